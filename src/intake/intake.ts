import type { Queryable } from '../db/pool.js'
import { newCaseReference } from './reference.js'
import type { InboundContact } from './inbound-contact.js'

export interface IntakeResult {
  caseId: number
  reference: string
  /** the case:route outbox row to relay, when a case was opened */
  outboxId: number | null
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
 * sender before this returns. The work is a SQL function (migrations/003) so it costs one
 * round trip.
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
  replayed: boolean
  same_payload: boolean
  opened: boolean
}

function toResult(row: IntakeRow): IntakeResult {
  return { caseId: row.case_id, reference: row.reference, outboxId: row.outbox_id, replayed: row.replayed, samePayload: row.same_payload, opened: row.opened }
}

/** The input of switchboard_intake (migrations/003): one jsonb object per contact. */
function intakeParams(contact: InboundContact) {
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
    sender: stripNul(contact.sender.raw),
    recipient: stripNul(contact.recipient),
    text: stripNul(contact.text),
    postcode: contact.location.postcode,
    lat: contact.location.lat,
    lng: contact.location.lng,
    service_code: contact.serviceCode,
    council_gss: contact.councilGss,
    thread_reference: contact.threadReference
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
