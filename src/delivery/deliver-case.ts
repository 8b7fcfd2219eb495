import { UnrecoverableError } from 'bullmq'
import type { Transporter } from 'nodemailer'
import type { Log } from '../logger.js'
import type { Db } from '../db/pool.js'
import { markOutboxDone } from '../jobs/outbox-relay.js'
import { webhookUrlRefusal } from './destination-policy.js'
import { sendTeamMail } from './email.js'
import type { AttemptResult } from './outcome.js'
import { buildCasePayload, renderCaseEmail, type DeliveryRow } from './payload.js'
import { sendWebhook } from './webhook.js'

export interface DeliveryDeps {
  db: Db
  mail: Transporter
  log: Log
  /** `production` refuses plain-http webhooks even to a loopback host */
  settings: { maxAttempts: number; timeoutMs: number; mailFrom: string; production: boolean }
}

export type DeliveryOutcome = 'delivered' | 'kept' | 'already_settled' | 'missing'

/**
 * One attempt to hand a routed case to its council's back office. Success is recorded only
 * after a 2xx (or the mail server's acceptance). A failure either throws for BullMQ to
 * retry with backoff, or, when permanent or out of attempts, dead-letters the delivery for
 * an operator and throws UnrecoverableError.
 */
export async function deliverCase(deps: DeliveryDeps, job: { deliveryId: number; outboxId: number }): Promise<DeliveryOutcome> {
  // Claim the attempt and read what to send in one statement: the attempt is counted before
  // it is made, so a crash mid-send still uses one up. A settled delivery is not claimed.
  const { rows } = await deps.db.query<DeliveryRow>({
    name: 'deliver-claim-attempt',
    text: `with d as (
       update deliveries set attempts = attempts + 1, updated_at = now()
        where id = $1 and state in ('pending', 'retrying')
        returning id, public_id, state, attempts, kind, destination_id, case_id
     )
     select d.id, d.public_id, d.state, d.attempts, d.kind,
            dest.webhook_url, dest.webhook_secret, dest.email as team_email, dest.team,
            c.id as case_id, c.reference, c.status, c.priority, c.channel, c.service_code, s.name as service_name,
            c.council_gss, co.name as council_name, c.description, c.postcode, c.lat, c.lng,
            c.created_at, c.sla_due_at,
            -- the details the case was reported with, never the linked resident's: a claim
            -- on a form must not put a stranger's number on someone else's case, or theirs on his
            c.reported_name as display_name, c.reported_email as email, c.reported_phone as phone
       from d
       join destinations dest on dest.id = d.destination_id
       join cases c on c.id = d.case_id
       left join services s on s.code = c.service_code
       left join councils co on co.gss = c.council_gss`,
    values: [job.deliveryId]
  })
  const delivery = rows[0]
  if (!delivery) {
    // delivered or dead-lettered already (a duplicate job), or gone
    const settled = await deps.db.query('select 1 from deliveries where id = $1', [job.deliveryId])
    await markOutboxDone(deps.db, job.outboxId)
    return settled.rowCount ? 'already_settled' : 'missing'
  }

  const attempt = delivery.attempts
  const result = await attemptDelivery(deps, delivery)
  const where = `${delivery.team} of ${delivery.council_name ?? delivery.council_gss} by ${delivery.kind}`
  if (result.ok && result.kept) {
    // Settled but not delivered: the case stays routed, so the resident is never told the
    // council has a report that was sent nowhere. One statement, like a success.
    await deps.db.query({
      name: 'deliver-kept',
      text: `with kept as (
         update deliveries set state = 'kept', last_status = null, last_error = null, updated_at = now() where id = $1
       ), event as (
         insert into case_events (case_id, type, actor, reason, data) values ($2, 'delivery.kept', 'worker:deliver', $3, $4)
       )
       update outbox set done_at = clock_timestamp() where id = $5 and done_at is null`,
      values: [delivery.id, delivery.case_id, `mail for ${where} ${result.detail}; the case stays routed`, { delivery_id: delivery.public_id, attempt }, job.outboxId]
    })
    deps.log.info({ deliveryId: delivery.public_id, attempt, kind: delivery.kind }, 'case kept by the demo mail transport, not sent')
    return 'kept'
  }
  if (result.ok) {
    // one statement, so atomic: the delivery, the case's stage, the audit event, the outbox row
    await deps.db.query({
      name: 'deliver-succeeded',
      text: `with delivered as (
         update deliveries set state = 'delivered', last_status = $2, last_error = null, delivered_at = now(), updated_at = now()
          where id = $1
       ), staged as (
         update cases set status = 'with_back_office', updated_at = clock_timestamp() where id = $3 and status = 'routed'
       ), event as (
         insert into case_events (case_id, type, actor, reason, data) values ($3, 'delivery.succeeded', 'worker:deliver', $4, $5)
       )
       update outbox set done_at = clock_timestamp() where id = $6 and done_at is null`,
      values: [delivery.id, result.status, delivery.case_id, `delivered to ${where} (${result.detail}) on attempt ${attempt}`, { delivery_id: delivery.public_id, attempt }, job.outboxId]
    })
    deps.log.info({ deliveryId: delivery.public_id, attempt, kind: delivery.kind }, 'case delivered')
    return 'delivered'
  }

  const final = result.permanent || attempt >= deps.settings.maxAttempts
  if (final) {
    const why = result.permanent ? 'a permanent failure' : `attempt ${attempt} of ${deps.settings.maxAttempts}`
    await deps.db.query(
      `with dead as (
         update deliveries set state = 'dead', last_status = $2, last_error = $3, updated_at = now() where id = $1
       ), event as (
         insert into case_events (case_id, type, actor, reason, data) values ($4, 'delivery.dead_lettered', 'worker:deliver', $5, $6)
       )
       update outbox set done_at = clock_timestamp() where id = $7 and done_at is null`,
      [
        delivery.id,
        result.status,
        result.detail,
        delivery.case_id,
        `delivery to ${where} dead-lettered after ${why}: ${result.detail}; an operator can retry it`,
        { delivery_id: delivery.public_id, attempt },
        job.outboxId
      ]
    )
    deps.log.warn({ deliveryId: delivery.public_id, attempt, detail: result.detail }, 'delivery dead-lettered')
    throw new UnrecoverableError(`delivery ${delivery.public_id} dead-lettered: ${result.detail}`)
  }
  await deps.db.query(`update deliveries set state = 'retrying', last_status = $2, last_error = $3, updated_at = now() where id = $1`, [delivery.id, result.status, result.detail])
  deps.log.info({ deliveryId: delivery.public_id, attempt, detail: result.detail }, 'delivery attempt failed; will retry')
  throw new Error(`delivery attempt ${attempt} failed: ${result.detail}`)
}

async function attemptDelivery(deps: DeliveryDeps, d: DeliveryRow): Promise<AttemptResult> {
  if (d.kind === 'webhook') {
    if (!d.webhook_url || !d.webhook_secret) return { ok: false, permanent: true, status: null, detail: 'destination has no webhook URL or secret' }
    // checked at start too; this catches a destination changed since, before anything is sent
    const refusal = webhookUrlRefusal(d.webhook_url, { production: deps.settings.production })
    if (refusal) return { ok: false, permanent: true, status: null, detail: `not sent: ${refusal}` }
    const body = JSON.stringify(buildCasePayload(d))
    return sendWebhook({ url: d.webhook_url, secret: d.webhook_secret }, d.public_id, body, deps.settings.timeoutMs)
  }
  if (!d.team_email) return { ok: false, permanent: true, status: null, detail: 'destination has no email address' }
  const mail = renderCaseEmail(d)
  return sendTeamMail(deps.mail, { from: deps.settings.mailFrom, to: d.team_email, deliveryId: d.public_id, caseReference: d.reference, ...mail })
}
