import type { Transporter } from 'nodemailer'
import type { Config } from '../config.js'
import type { Log } from '../logger.js'
import type { Db } from '../db/pool.js'
import type { EventData } from '../events/catalogue.js'
import { eventsFrom, sql } from '../events/record.js'
import { refusedAttempt } from './destination-policy.js'
import { sendTeamMail } from './email.js'
import { settleAs, type AttemptResult } from './outcome.js'
import { buildCasePayload, renderCaseEmail, type DeliveryRow } from './payload.js'
import { outboundClient, type OutboundClient } from './safe-fetch.js'
import { sendWebhook } from './webhook.js'

export interface DeliveryDeps {
  db: Db
  mail: Transporter
  log: Log
  /**
   * `production` refuses plain-http webhooks even to a loopback host; `outbound` connects
   * only to public addresses and the operator's allowed private ranges
   */
  settings: DeliverySettings
}

export interface DeliverySettings {
  maxAttempts: number
  timeoutMs: number
  mailFrom: string
  production: boolean
  outbound: OutboundClient
}

/**
 * How a council system is reached, whatever is sent to it (a case, a webhook event, an
 * erasure notice): the same attempts, timeout and address rules for every back office.
 */
export function deliverySettings(config: Config): DeliverySettings {
  return {
    maxAttempts: config.DELIVERY_ATTEMPTS,
    timeoutMs: config.DELIVERY_TIMEOUT_MS,
    mailFrom: config.MAIL_FROM,
    production: config.NODE_ENV === 'production',
    outbound: outboundClient(config.WEBHOOK_ALLOW_PRIVATE_CIDRS)
  }
}

export type DeliveryOutcome = 'delivered' | 'kept' | 'already_settled' | 'missing'

/** A delivery as the claim returns it: its row joined with the case and destination, and its destination's id. */
export type ClaimedDelivery = DeliveryRow & { destination_id: number }

/** The event of a settled delivery: one for each outcome but a retry. */
type SettledType = 'delivery.succeeded' | 'delivery.kept' | 'delivery.dead_lettered'

/** What one attempt came to, ready to be recorded with others in one statement. */
export interface Settlement {
  delivery: ClaimedDelivery
  outboxId: number
  outcome: 'delivered' | 'kept' | 'dead' | 'retrying'
  result: AttemptResult
}

/**
 * How long a claimed delivery is held by its attempt: six times DELIVERY_TIMEOUT_MS (which
 * bounds a webhook, and the mail transport's timeouts a mail) and at least 10 s, so a live
 * attempt and the recording of its outcome are not overtaken; short enough that a
 * delivery whose claimer died mid-attempt is tried again within a minute at the default
 * timeout. A council server that outlasts even that may get the case twice, with the same
 * X-Switchboard-Delivery id, as after any crash between sending and recording.
 */
export function deliveryLeaseMs(timeoutMs: number): number {
  return Math.max(10_000, 6 * timeoutMs)
}

/**
 * Counts an attempt on each of these deliveries that is still pending or retrying and not
 * held by another attempt, holds it for `leaseMs`, and reads what to send, in one
 * statement: the attempt is counted before it is made, so a crash mid-send still uses one
 * up. A settled delivery is not claimed (a duplicate job), nor one whose attempt is in
 * flight elsewhere (the outbox sweeper's copy of a job handed over in process).
 */
export async function claimDeliveries(db: Db, ids: number[], leaseMs: number): Promise<ClaimedDelivery[]> {
  if (!ids.length) return []
  const { rows } = await db.query<ClaimedDelivery>({
    name: 'deliver-claim-attempts',
    text: `with d as (
       update deliveries set attempts = attempts + 1, lease_until = now() + make_interval(secs => $2::float8 / 1000), updated_at = now()
        where id = any($1::bigint[]) and state in ('pending', 'retrying') and (lease_until is null or lease_until < now())
        returning id, public_id, state, attempts, kind, destination_id, case_id
     )
     select d.id, d.public_id, d.state, d.attempts, d.kind, d.destination_id,
            dest.webhook_url, dest.webhook_secret, dest.email as team_email, dest.team,
            c.id as case_id, c.reference, c.status, c.priority, c.channel, c.service_code, s.name as service_name, s.lgsl as service_lgsl,
            c.council_gss, co.name as council_name, c.description, c.postcode, c.lat, c.lng, c.uprn, c.usrn, c.external_report,
            c.created_at, c.sla_due_at,
            -- the details the case was reported with, never the linked resident's: a claim
            -- on a form must not put a stranger's number on someone else's case, or theirs on his
            c.reported_name as display_name, c.reported_email as email, c.reported_phone as phone
       from d
       join destinations dest on dest.id = d.destination_id
       join cases c on c.id = d.case_id
       left join services s on s.code = c.service_code
       left join councils co on co.gss = c.council_gss`,
    values: [ids, leaseMs]
  })
  return rows.map((r) => ({ ...r, id: Number(r.id), destination_id: Number(r.destination_id), case_id: Number(r.case_id) }))
}

/** A council system as a destination row describes it: a signed webhook, or a team mailbox. */
export interface DestinationTarget {
  kind: string
  webhook_url: string | null
  webhook_secret: string | null
  team_email: string | null
}

/**
 * One attempt to send something to a council system: to its webhook, signed, with `id` as
 * X-Switchboard-Delivery; or to its team mailbox, as a mail. Deliveries and erasure
 * notices both go this way; `json` and `mail` build what is sent only for the kind needed.
 */
export async function sendToDestination(
  deps: Pick<DeliveryDeps, 'mail' | 'settings'>,
  to: DestinationTarget,
  message: { id: string; reference: string; json: () => unknown; mail: () => { subject: string; text: string } }
): Promise<AttemptResult> {
  if (to.kind === 'webhook') {
    if (!to.webhook_url || !to.webhook_secret) return { ok: false, permanent: true, status: null, detail: 'destination has no webhook URL or secret' }
    // checked at start too; this catches a destination changed since, before anything is sent
    const { production, outbound } = deps.settings
    const refused = refusedAttempt(to.webhook_url, { production, addresses: outbound.policy })
    if (refused) return refused
    return sendWebhook(outbound, { url: to.webhook_url, secret: to.webhook_secret }, message.id, JSON.stringify(message.json()), deps.settings.timeoutMs)
  }
  if (!to.team_email) return { ok: false, permanent: true, status: null, detail: 'destination has no email address' }
  // with the demo transport the mail is built and kept, and the result says so
  return sendTeamMail(deps.mail, { from: deps.settings.mailFrom, to: to.team_email, deliveryId: message.id, caseReference: message.reference, ...message.mail() })
}

/** One attempt to hand a claimed case to its council's back office: a signed webhook or a team mail. */
export async function attemptDelivery(deps: DeliveryDeps, d: ClaimedDelivery): Promise<AttemptResult> {
  return sendToDestination(deps, d, { id: d.public_id, reference: d.reference, json: () => buildCasePayload(d), mail: () => renderCaseEmail(d) })
}

/** What an attempt's result means for the delivery: settled one way or another, or to be tried again. */
export function settlementOf(deps: DeliveryDeps, delivery: ClaimedDelivery, outboxId: number, result: AttemptResult): Settlement {
  return { delivery, outboxId, outcome: settleAs(result, delivery.attempts, deps.settings.maxAttempts), result }
}

/** The audit event's reason, as deliveries have always recorded it. */
function reasonOf(s: Settlement, maxAttempts: number): string | null {
  const d = s.delivery
  const where = `${d.team} of ${d.council_name ?? d.council_gss} by ${d.kind}`
  if (s.outcome === 'kept') return `mail for ${where} ${s.result.detail}; the case stays routed`
  if (s.outcome === 'delivered') return `delivered to ${where} (${s.result.detail}) on attempt ${d.attempts}`
  if (s.outcome === 'dead') {
    const why = s.result.permanent ? 'a permanent failure' : `attempt ${d.attempts} of ${maxAttempts}`
    return `delivery to ${where} dead-lettered after ${why}: ${s.result.detail}; an operator can retry it`
  }
  return null
}

/**
 * Records the outcomes of many attempts in one statement, atomically: each delivery's
 * state (its lease ended), the case's stage (with the back office, once delivered), an audit event for each
 * settled one, and its outbox row done. A delivery to try again keeps its outbox row
 * pending (its job retries with backoff) and records why the attempt failed.
 */
export async function settleDeliveries(deps: DeliveryDeps, settlements: Settlement[]): Promise<void> {
  if (!settlements.length) return
  const rows = settlements.map((s) => ({
    id: s.delivery.id,
    case_id: s.delivery.case_id,
    outcome: s.outcome,
    status: s.result.status,
    detail: s.result.detail,
    reason: reasonOf(s, deps.settings.maxAttempts),
    data: { delivery_id: s.delivery.public_id, attempt: s.delivery.attempts } satisfies EventData<SettledType>,
    outbox_id: s.outboxId
  }))
  const events = eventsFrom(
    {
      from: `v where v.outcome <> 'retrying' order by v.id`,
      caseId: sql('v.case_id'),
      type: sql<SettledType>(`case v.outcome when 'delivered' then 'delivery.succeeded' when 'kept' then 'delivery.kept' else 'delivery.dead_lettered' end`),
      actor: 'worker:deliver',
      reason: sql('v.reason'),
      data: sql<EventData<SettledType>>('v.data')
    },
    // the ids again as arrays: the planner knows nothing of a JSON record set's rows, and
    // without them it joins by scanning whole tables, a cost that grows with every case
    [
      JSON.stringify(rows),
      rows.map((r) => r.id),
      rows.filter((r) => r.outcome === 'delivered').map((r) => r.case_id),
      rows.filter((r) => r.outcome !== 'retrying').map((r) => r.outbox_id)
    ]
  )
  await deps.db.query({
    name: 'deliver-settle',
    text: `with v as (
       select * from jsonb_to_recordset($1::jsonb) as x (id bigint, case_id bigint, outcome text, status int, detail text, reason text, data jsonb, outbox_id bigint)
     ), updated as (
       update deliveries d
          set state = case v.outcome when 'retrying' then 'retrying' else v.outcome end,
              last_status = case when v.outcome = 'kept' then null else v.status end,
              last_error = case when v.outcome in ('delivered', 'kept') then null else v.detail end,
              delivered_at = case when v.outcome = 'delivered' then now() else d.delivered_at end,
              lease_until = null,
              updated_at = now()
         from v where d.id = v.id and d.id = any($2::bigint[])
     ), staged as (
       update cases set status = 'with_back_office', updated_at = clock_timestamp()
        where id = any($3::bigint[]) and status = 'routed'
     ), events as (${events.text})
     update outbox set done_at = clock_timestamp()
      where id = any($4::bigint[]) and done_at is null`,
    values: events.values
  })
  for (const s of settlements) {
    const context = { deliveryId: s.delivery.public_id, attempt: s.delivery.attempts, kind: s.delivery.kind }
    if (s.outcome === 'delivered') deps.log.info(context, 'case delivered')
    else if (s.outcome === 'kept') deps.log.info(context, 'case kept by the demo mail transport, not sent')
    else if (s.outcome === 'dead') deps.log.warn({ ...context, detail: s.result.detail, cause: s.result.cause }, 'delivery dead-lettered')
    else deps.log.info({ ...context, detail: s.result.detail, cause: s.result.cause }, 'delivery attempt failed; will retry')
  }
}
