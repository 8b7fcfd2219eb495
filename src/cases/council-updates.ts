import { randomUUID } from 'node:crypto'
import { withTransaction, type Db, type DbClient } from '../db/pool.js'
import { recordEvent } from '../events/record.js'
import type { OutboxRow } from '../jobs/outbox-relay.js'
import { headerSafe, queueEmail } from '../messaging/email-outbound.js'
import { queueText } from '../messaging/outbound.js'
import { renderTemplate } from '../messaging/templates.js'
import type { Catalogue } from '../catalogue/catalogue.js'

/** The statuses of Open311's service request updates (mySociety), lower case. */
export const UPDATE_STATUSES = [
  'open',
  'closed',
  'fixed',
  'in_progress',
  'action_scheduled',
  'investigating',
  'duplicate',
  'not_councils_responsibility',
  'no_further_action',
  'internal_referral',
  'cancelled',
  'reopen',
  'for_triage'
] as const
export type UpdateStatus = (typeof UPDATE_STATUSES)[number]

/** Statuses after which the council has nothing more to do: the case is resolved here. */
const FINISHED = new Set<UpdateStatus>(['closed', 'fixed', 'duplicate', 'not_councils_responsibility', 'no_further_action', 'cancelled'])

/** Whether this status says the problem needs nothing more (fixed, closed, duplicate …). */
export function isFinished(status: UpdateStatus): boolean {
  return FINISHED.has(status)
}

/** How a resident reads each status. */
export const STATUS_WORDS: Record<UpdateStatus, string> = {
  open: 'is open',
  closed: 'is closed',
  fixed: 'has been fixed',
  in_progress: 'is being worked on',
  action_scheduled: 'has work scheduled',
  investigating: 'is being investigated',
  duplicate: 'duplicates another report, which is being dealt with',
  not_councils_responsibility: "is not the council's responsibility",
  no_further_action: 'needs no further action',
  internal_referral: 'has been passed to another team',
  cancelled: 'has been cancelled',
  reopen: 'has been reopened',
  for_triage: 'is being assessed'
}

export interface CouncilUpdate {
  status: UpdateStatus
  description: string
  /** tell the resident, on the channel they used */
  forResident: boolean
  /** the caller's id for the update; the same one again from the same source on the same case is a no-op */
  updateId?: string | null
  updatedAt?: Date | null
  externalStatusCode?: string | null
  /** who: 'api-key:<id>', 'open311:<id>', 'operator' */
  source: string
}

export interface AppliedUpdate {
  updateId: string
  /** false when this update_id was applied before: nothing changed */
  applied: boolean
  /** what to hand to the queues once committed (the message to the resident) */
  outbox: OutboxRow[]
  /** how the resident was told: 'sms', 'email', or why not */
  told: 'sms' | 'email' | 'not_asked' | 'no_channel'
}

/**
 * A council's status update on one of its cases, in one transaction: recorded (once per
 * source, case and update_id: an update_id is the caller's own), the case's back-office
 * status and notes set (a finished status resolves the case here, any other keeps it with
 * the back office), a `case.updated` event (which council webhooks hear), and, when it is
 * meant for the resident, a message on the channel they used through message:send, in the
 * council's wording for that status.
 */
export async function applyCouncilUpdate(
  deps: { db: Db; catalogue: Catalogue; emailDomain: string; mailFrom: string },
  caseId: number,
  u: CouncilUpdate
): Promise<AppliedUpdate> {
  const updateId = u.updateId?.trim() || `sb-${randomUUID()}`
  // stored with LF line ends, as a request's text is
  u = { ...u, description: u.description.replace(/\r\n?/g, '\n') }
  return withTransaction(deps.db, async (db) => {
    const inserted = await db.query<{ id: number }>(
      `insert into case_updates (case_id, update_id, status, description, for_resident, source, author, external_status_code, updated_at)
       values ($1, $2, $3, $4, $5, $6, 'council', $7, coalesce($8, clock_timestamp()))
       on conflict (source, case_id, update_id) do nothing returning id`,
      [caseId, updateId, u.status, u.description, u.forResident, u.source, u.externalStatusCode ?? null, u.updatedAt ?? null]
    )
    if (!inserted.rows[0]) return { updateId, applied: false, outbox: [], told: 'not_asked' }
    const { rows } = await db.query<Resident>(
      `update cases set back_office_status = $2, status_notes = nullif($3, ''),
                        status = case when $4 then 'resolved' when status = 'resolved' or status = 'routed' then 'with_back_office' else status end,
                        updated_at = clock_timestamp()
        where id = $1
       returning id, reference, channel, council_gss, partnership_id, reported_email, reported_phone, contacted_address`,
      [caseId, u.status, u.description, FINISHED.has(u.status)]
    )
    const c = rows[0]!
    await recordEvent(db, {
      caseId,
      type: 'case.updated',
      actor: u.source,
      reason: `The council set the status to ${u.status.replaceAll('_', ' ')}${u.forResident ? ', for the resident to be told' : ''}`,
      data: { update_id: updateId, status: u.status }
    })
    if (!u.forResident) return { updateId, applied: true, outbox: [], told: 'not_asked' }
    const told = await tellResident(deps, db, c, u)
    return { updateId, applied: true, outbox: told ? [told.row] : [], told: told?.how ?? 'no_channel' }
  })
}

interface Resident {
  id: number
  reference: string
  channel: string
  council_gss: string | null
  partnership_id: string | null
  reported_email: string | null
  reported_phone: string | null
  contacted_address: string | null
}

/** By text to a case that came by text; by email to one that came by email, or by the web with an email. */
async function tellResident(
  deps: { catalogue: Catalogue; emailDomain: string; mailFrom: string },
  db: DbClient,
  c: Resident,
  u: CouncilUpdate
): Promise<{ row: OutboxRow; how: 'sms' | 'email' } | null> {
  const council = c.council_gss ? deps.catalogue.councils.get(c.council_gss) : undefined
  const template = deps.catalogue.statusTemplate(c.council_gss, c.partnership_id, u.status)
  const body = renderTemplate(template, {
    reference: c.reference,
    council: council?.name ?? 'the council',
    status: STATUS_WORDS[u.status],
    description: u.description
  }).trim()
  const author = `council:${u.source}`
  if (c.channel === 'sms' && c.reported_phone && c.contacted_address) {
    const row = await queueText(db, { caseId: c.id, to: c.reported_phone, from: c.contacted_address, body, author, why: 'A status update from the council was queued to go to the resident by SMS' })
    return { row, how: 'sms' }
  }
  if (c.reported_email && (c.channel === 'email' || c.channel === 'web' || c.channel === 'open311')) {
    // from the mailbox the resident wrote to, else the council's own, else MAIL_FROM
    const from = (c.channel === 'email' && c.contacted_address) || deps.catalogue.emailAddressOf(c.council_gss, c.partnership_id) || deps.mailFrom
    const row = await queueEmail(db, {
      caseId: c.id,
      to: c.reported_email,
      from,
      subject: headerSafe(`Update on your report [Ref: ${c.reference}]`),
      body,
      thread: { inReplyTo: null, references: [], automatic: false },
      author,
      why: 'A status update from the council was queued to go to the resident by email',
      emailDomain: deps.emailDomain
    })
    return { row, how: 'email' }
  }
  return null
}
