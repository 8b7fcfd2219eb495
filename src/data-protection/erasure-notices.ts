import { UnrecoverableError } from 'bullmq'
import type { Transporter } from 'nodemailer'
import type { Db } from '../db/pool.js'
import { webhookUrlRefusal } from '../delivery/destination-policy.js'
import { sendTeamMail } from '../delivery/email.js'
import type { AttemptResult } from '../delivery/outcome.js'
import { sendWebhook } from '../delivery/webhook.js'
import { markOutboxDone } from '../jobs/outbox-relay.js'
import type { Log } from '../logger.js'

export interface ErasureNoticeDeps {
  db: Db
  mail: Transporter
  log: Log
  settings: { maxAttempts: number; timeoutMs: number; mailFrom: string; production: boolean }
}

export type ErasureNoticeOutcome = 'delivered' | 'already_settled' | 'missing'

interface ClaimedNotice {
  id: number
  public_id: string
  case_id: number
  kind: 'webhook' | 'email'
  attempts: number
  created_at: Date
  webhook_url: string | null
  webhook_secret: string | null
  team_email: string | null
  team: string
  reference: string
  council_gss: string | null
  council_reference: string | null
  redacted_at: Date | null
}

/**
 * What a council system is told when a case it received has been erased: the case by its
 * reference (and the council's own reference for it, when it gave one), that its personal
 * data is gone here, and when. The council, as controller, erases its own copy. Signed and
 * sent like a delivery, with the notice's id as X-Switchboard-Delivery.
 */
export function erasureNoticeBody(n: ClaimedNotice) {
  return {
    schema: 'switchboard.case.v1',
    event: 'case.erased',
    delivery_id: n.public_id,
    case: { reference: n.reference, council: { gss: n.council_gss }, council_reference: n.council_reference },
    erased_at: (n.redacted_at ?? n.created_at).toISOString()
  }
}

function erasureNoticeMail(n: ClaimedNotice): { subject: string; text: string } {
  return {
    subject: `[${n.reference}] Personal data erased`,
    text: [
      `The resident's personal data on case ${n.reference} has been erased from Switchboard at their request.`,
      '',
      `Reference:          ${n.reference}`,
      `Your reference:     ${n.council_reference ?? '-'}`,
      `Erased at:          ${(n.redacted_at ?? n.created_at).toISOString()}`,
      '',
      `${n.team} received this case earlier. Please erase the personal data in your copies of it`,
      'unless your council has a lawful reason to keep them.'
    ].join('\n')
  }
}

/**
 * One attempt to send one erasure notice, as deliverCase sends a case: the attempt is
 * counted before it is made; a 2xx or the mail server's acceptance settles the notice, an
 * event on the case and the outbox row in one statement; anything else throws for BullMQ
 * to retry, and a permanent failure or the last attempt dead-letters the notice.
 */
export async function sendErasureNotice(deps: ErasureNoticeDeps, job: { noticeId: number; outboxId: number }): Promise<ErasureNoticeOutcome> {
  const { rows } = await deps.db.query<ClaimedNotice>({
    name: 'erasure-notice-claim',
    text: `with n as (
       update erasure_notices set attempts = attempts + 1
        where id = $1 and state = 'pending'
        returning id, public_id, case_id, destination_id, kind, attempts, created_at
     )
     select n.id, n.public_id, n.case_id, n.kind, n.attempts, n.created_at,
            d.webhook_url, d.webhook_secret, d.email as team_email, d.team,
            c.reference, c.council_gss, c.council_reference, c.redacted_at
       from n
       join destinations d on d.id = n.destination_id
       join cases c on c.id = n.case_id`,
    values: [job.noticeId]
  })
  const notice = rows[0]
  if (!notice) {
    const settled = await deps.db.query('select 1 from erasure_notices where id = $1', [job.noticeId])
    await markOutboxDone(deps.db, job.outboxId)
    return settled.rowCount ? 'already_settled' : 'missing'
  }
  const context = { noticeId: notice.public_id, kind: notice.kind, attempt: notice.attempts }
  const result = await attempt(deps, notice)
  const where = `${notice.team} by ${notice.kind}`
  if (result.ok) {
    await deps.db.query(
      `with sent as (
         update erasure_notices set state = 'delivered', last_status = $2, last_error = null, delivered_at = now() where id = $1
       ), event as (
         insert into case_events (case_id, type, actor, reason, data) values ($3, 'erasure.notified', 'worker:erasure', $4, $5)
       )
       update outbox set done_at = clock_timestamp() where id = $6 and done_at is null`,
      [notice.id, result.status, notice.case_id, `${where} told of the erasure (${result.detail})`, { notice_id: notice.public_id }, job.outboxId]
    )
    deps.log.info(context, 'erasure notice sent')
    return 'delivered'
  }
  if (result.permanent || notice.attempts >= deps.settings.maxAttempts) {
    await deps.db.query(
      `with dead as (
         update erasure_notices set state = 'dead', last_status = $2, last_error = $3 where id = $1
       ), event as (
         insert into case_events (case_id, type, actor, reason, data) values ($4, 'erasure.notice_failed', 'worker:erasure', $5, $6)
       )
       update outbox set done_at = clock_timestamp() where id = $7 and done_at is null`,
      [notice.id, result.status, result.detail, notice.case_id, `the erasure notice to ${where} was not accepted: ${result.detail}`, { notice_id: notice.public_id }, job.outboxId]
    )
    deps.log.warn({ ...context, detail: result.detail }, 'erasure notice dead-lettered')
    throw new UnrecoverableError(`erasure notice ${notice.public_id} dead-lettered: ${result.detail}`)
  }
  await deps.db.query('update erasure_notices set last_status = $2, last_error = $3 where id = $1', [notice.id, result.status, result.detail])
  deps.log.info({ ...context, detail: result.detail }, 'erasure notice attempt failed; will retry')
  throw new Error(`erasure notice attempt ${notice.attempts} failed: ${result.detail}`)
}

async function attempt(deps: ErasureNoticeDeps, n: ClaimedNotice): Promise<AttemptResult> {
  if (n.kind === 'webhook') {
    if (!n.webhook_url || !n.webhook_secret) return { ok: false, permanent: true, status: null, detail: 'destination has no webhook URL or secret' }
    const refusal = webhookUrlRefusal(n.webhook_url, { production: deps.settings.production })
    if (refusal) return { ok: false, permanent: true, status: null, detail: `not sent: ${refusal}` }
    return sendWebhook({ url: n.webhook_url, secret: n.webhook_secret }, n.public_id, JSON.stringify(erasureNoticeBody(n)), deps.settings.timeoutMs)
  }
  if (!n.team_email) return { ok: false, permanent: true, status: null, detail: 'destination has no email address' }
  const mail = erasureNoticeMail(n)
  // with the demo transport the notice is settled with that said in its detail, as a delivery is
  return sendTeamMail(deps.mail, { from: deps.settings.mailFrom, to: n.team_email, deliveryId: n.public_id, caseReference: n.reference, ...mail })
}
