import type { Queryable } from '../db/pool.js'
import type { OutboxRow } from '../jobs/outbox-relay.js'
import { newCaseReference } from './reference.js'
import type { ExternalReport, InboundContact } from './inbound-contact.js'

export interface IntakeResult {
  caseId: number
  reference: string
  /** the case:route outbox row to relay, when a case was opened */
  outbox: OutboxRow | null
  /** true when this provider message was seen before: nothing was written */
  replayed: boolean
  /** for a replay: whether it carried the same payload as the first time */
  samePayload: boolean
  opened: boolean
}

/**
 * Stores one contact in one transaction: the raw payload, the resident (upserted by
 * normalised email and phone), the case (opened, or threaded onto the resident's open one),
 * the message, a case event and the outbox row for routing. Nothing is acknowledged to the
 * sender before this returns. The work is a SQL function, switchboard_intake
 * (src/intake/sql/intake.sql), so it costs one round trip; it applies the
 * identity rules (a claimed point links at most, a proven one ties to whoever proved it).
 */
export async function intakeContact(db: Queryable, contact: InboundContact): Promise<IntakeResult> {
  const { rows } = await db.query<IntakeRow>({ name: 'intake-contact', text: 'select * from switchboard_intake($1)', values: [intakeParams(contact)] })
  const row = rows[0]
  if (!row) throw new Error('switchboard_intake returned no row')
  return toResult(row)
}

/**
 * Stores several contacts in one statement, so one transaction: all of them or none. The
 * results come back in the order given. Used by IntakeBatcher under load.
 */
export async function intakeContacts(db: Queryable, contacts: readonly InboundContact[]): Promise<IntakeResult[]> {
  const { rows } = await db.query<IntakeRow>({
    name: 'intake-contacts',
    // one after another, in array order: the lateral call runs once per element
    text: `select r.* from jsonb_array_elements($1::jsonb) with ordinality as b(p, i)
           cross join lateral switchboard_intake(b.p) as r order by b.i`,
    values: [JSON.stringify(contacts.map(intakeParams))]
  })
  if (rows.length !== contacts.length) throw new Error(`switchboard_intake returned ${rows.length} rows for ${contacts.length} contacts`)
  return rows.map(toResult)
}

interface IntakeRow {
  case_id: number
  reference: string
  outbox_id: number | null
  outbox_job_key: string | null
  replayed: boolean
  same_payload: boolean
  opened: boolean
}

function toResult(row: IntakeRow): IntakeResult {
  const outbox: OutboxRow | null =
    row.outbox_id !== null && row.outbox_job_key !== null
      ? { id: row.outbox_id, topic: 'case:route', payload: { case_id: row.case_id }, job_key: row.outbox_job_key }
      : null
  return { caseId: row.case_id, reference: row.reference, outbox, replayed: row.replayed, samePayload: row.same_payload, opened: row.opened }
}

/** The argument of switchboard_intake (src/intake/sql/intake.sql): one jsonb object per contact. */
export interface IntakeParams {
  provider: string
  provider_message_id: string
  channel: InboundContact['channel']
  payload: unknown
  payload_hash: string | null
  /** a fresh reference, used only if a case is opened */
  reference: string
  name: string | null
  email: string | null
  phone: string | null
  email_verified: boolean
  phone_verified: boolean
  sender: string | null
  recipient: string | null
  text: string
  postcode: string | null
  lat: number | null
  lng: number | null
  service_code: string | null
  council_gss: string | null
  thread_reference: string | null
  thread_window_secs: number | null
  media: { url: string; content_type: string }[]
  thread_case_id: number | null
  thread_how: string | null
  subject: string | null
  html: string | null
  message_kind: string | null
  flags: string[]
  attachments_omitted: number
  uprn: string | null
  usrn: string | null
  external_report: ExternalReport | null
}

export function intakeParams(contact: InboundContact): IntakeParams {
  return {
    provider: contact.provider,
    provider_message_id: contact.providerMessageId,
    channel: contact.channel,
    payload: stripNul(contact.rawPayload),
    payload_hash: contact.payloadHash,
    reference: newCaseReference(),
    name: stripNul(contact.sender.name),
    email: contact.sender.email,
    phone: contact.sender.phone,
    email_verified: contact.sender.verified?.email === true,
    phone_verified: contact.sender.verified?.phone === true,
    sender: stripNul(contact.sender.raw),
    recipient: stripNul(contact.recipient),
    text: stripNul(contact.text),
    postcode: contact.location.postcode,
    lat: contact.location.lat,
    lng: contact.location.lng,
    service_code: contact.serviceCode,
    council_gss: contact.councilGss,
    thread_reference: contact.threadReference,
    thread_window_secs: contact.threadWindowSecs ?? null,
    media: (contact.media ?? []).map((m) => ({ url: stripNul(m.url), content_type: stripNul(m.contentType) })),
    thread_case_id: contact.threadCase?.caseId ?? null,
    thread_how: contact.threadCase?.how ?? null,
    subject: stripNul(contact.subject ?? null),
    html: stripNul(contact.html ?? null),
    message_kind: contact.kind ?? null,
    flags: contact.flags ?? [],
    attachments_omitted: contact.attachmentsOmitted ?? 0,
    uprn: contact.uprn ?? null,
    usrn: contact.usrn ?? null,
    external_report: stripNul(contact.externalReport ?? null)
  }
}

/** Postgres refuses U+0000 in text and jsonb; everything else is kept as sent. */
export function stripNul<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\u0000', '') as T
  if (Array.isArray(value)) return value.map(stripNul) as T
  if (value && typeof value === 'object') {
    // no prototype: a key named __proto__ stays plain data
    const out: Record<string, unknown> = Object.create(null)
    for (const [k, v] of Object.entries(value)) out[k.replaceAll('\u0000', '')] = stripNul(v)
    return out as T
  }
  return value
}

/**
 * Whether this provider message is the one that opened its case: a replay of it gets the
 * same answer as the first delivery (an acknowledgement), a replay of a follow-up does not.
 */
export async function openedByMessage(db: Queryable, caseId: number, provider: string, providerMessageId: string): Promise<boolean> {
  const { rows } = await db.query(
    `select 1 from case_events e
      where e.case_id = $1 and e.type = 'case.opened'
        and e.data->>'raw_inbound_id' = (select r.id::text from raw_inbound r where r.provider = $2 and r.provider_message_id = $3)`,
    [caseId, provider, providerMessageId]
  )
  return rows.length > 0
}

/**
 * Keeps a provider payload that opens no case (an SMS STOP or HELP), so nothing received is
 * lost; a replay changes nothing.
 */
export async function keepRawInbound(db: Queryable, contact: Pick<InboundContact, 'provider' | 'providerMessageId' | 'channel' | 'rawPayload' | 'payloadHash'>): Promise<void> {
  await db.query(
    `insert into raw_inbound (provider, provider_message_id, channel, payload, payload_hash) values ($1, $2, $3, $4, $5)
     on conflict (provider, provider_message_id) do nothing`,
    [contact.provider, contact.providerMessageId, contact.channel, stripNul(contact.rawPayload), contact.payloadHash]
  )
}
