import type { Transporter } from 'nodemailer'
import type { Db } from '../db/pool.js'
import { sendToDestination, type DeliveryDeps } from '../delivery/deliver-case.js'
import { sendOne } from '../delivery/send-one.js'
import { eventsFrom } from '../events/record.js'
import type { Log } from '../logger.js'

export interface ErasureNoticeDeps {
  db: Db
  mail: Transporter
  log: Log
  /** as a delivery's: council systems are reached the same way */
  settings: DeliveryDeps['settings']
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
 * One attempt to send one erasure notice, as a case is delivered (sendOne): the attempt is
 * counted before it is made; a 2xx or the mail server's acceptance settles the notice, an
 * event on the case and the outbox row in one statement; anything else throws for BullMQ
 * to retry, and a permanent failure or the last attempt dead-letters the notice.
 */
export async function sendErasureNotice(deps: ErasureNoticeDeps, job: { noticeId: number; outboxId: number }): Promise<ErasureNoticeOutcome> {
  return sendOne({ db: deps.db, log: deps.log, maxAttempts: deps.settings.maxAttempts }, job.outboxId, {
    what: 'erasure notice',
    table: 'erasure_notices',
    claim: async () => {
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
      return rows[0]
    },
    exists: async () => ((await deps.db.query('select 1 from erasure_notices where id = $1', [job.noticeId])).rowCount ?? 0) > 0,
    // the same webhook or mailbox the case was delivered to, signed and sent the same way
    attempt: (n) => sendToDestination(deps, n, { id: n.public_id, reference: n.reference, json: () => erasureNoticeBody(n), mail: () => erasureNoticeMail(n) }),
    describe: (n) => ({ rowId: n.id, id: n.public_id, context: { noticeId: n.public_id, kind: n.kind, attempt: n.attempts } }),
    settle: async (n, outcome, result) => {
      const where = `${n.team} by ${n.kind}`
      const delivered = outcome === 'delivered'
      const event = eventsFrom(
        {
          caseId: n.case_id,
          type: delivered ? 'erasure.notified' : 'erasure.notice_failed',
          actor: 'worker:erasure',
          reason: delivered ? `${where} told of the erasure (${result.detail})` : `the erasure notice to ${where} was not accepted: ${result.detail}`,
          data: { notice_id: n.public_id }
        },
        [n.id, outcome, result.status, delivered ? null : result.detail, job.outboxId]
      )
      await deps.db.query(
        `with settled as (
           update erasure_notices
              set state = $2, last_status = $3, last_error = $4,
                  delivered_at = case when $2 = 'delivered' then now() else delivered_at end
            where id = $1
         ), event as (${event.text})
         update outbox set done_at = clock_timestamp() where id = $5 and done_at is null`,
        event.values
      )
    }
  })
}
