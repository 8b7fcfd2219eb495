import type { Db } from '../db/pool.js'
import { refusedAttempt } from '../delivery/destination-policy.js'
import type { AttemptResult } from '../delivery/outcome.js'
import type { OutboundClient } from '../delivery/safe-fetch.js'
import { sendOne } from '../delivery/send-one.js'
import { postJson } from '../delivery/webhook.js'
import type { Log } from '../logger.js'
import { webhookHeaders } from './signing.js'

export interface WebhookSendDeps {
  db: Db
  log: Log
  /**
   * `production` refuses plain-http URLs even to a loopback host; `outbound` connects only to
   * public addresses and the operator's allowed private ranges
   */
  settings: { maxAttempts: number; timeoutMs: number; production: boolean; outbound: OutboundClient }
}

export type WebhookSendOutcome = 'delivered' | 'already_settled' | 'missing'

/** A claimed event with what is needed to send it. */
interface ClaimedEvent {
  id: number
  event_id: string
  subscription_id: number
  type: string
  payload: Record<string, unknown>
  attempts: number
  created_at: Date
  url: string
  secret: string
  subscription_council: string
  case_council: string | null
  reference: string
  status: string
  council_gss: string | null
  service_code: string | null
  back_office_status: string | null
  council_reference: string | null
}

/**
 * What a council's webhook receives for one event. The case is described by its reference,
 * stage and the council's own fields only: no resident's details, which the council has
 * from the case's delivery. The case is as it is when sent, so a late retry never rolls a
 * receiver back to an older status.
 */
export function webhookBody(e: ClaimedEvent): string {
  return JSON.stringify({
    id: e.event_id,
    type: e.type,
    created_at: e.created_at.toISOString(),
    data: {
      case: {
        reference: e.reference,
        status: e.status,
        council_gss: e.council_gss,
        service_code: e.service_code,
        back_office_status: e.back_office_status,
        council_reference: e.council_reference
      },
      event: e.payload
    }
  })
}

/**
 * One attempt to send one webhook event (sendOne): the attempt is counted before it is
 * made, a 2xx settles the event and its outbox row in one statement, any other answer
 * throws for BullMQ to retry with backoff, and a permanent failure or the last attempt
 * dead-letters it (listed and replayable through the API). A settled event is never
 * claimed again, so a duplicate job sends nothing.
 */
export async function sendWebhookEvent(deps: WebhookSendDeps, job: { webhookEventId: number; outboxId: number }): Promise<WebhookSendOutcome> {
  return sendOne({ db: deps.db, log: deps.log, maxAttempts: deps.settings.maxAttempts }, job.outboxId, {
    what: 'webhook event',
    table: 'webhook_events',
    claim: async () => {
      const { rows } = await deps.db.query<ClaimedEvent>({
        name: 'webhook-claim-attempt',
        text: `with e as (
           update webhook_events set attempts = attempts + 1
            where id = $1 and state = 'pending'
            returning id, event_id, subscription_id, case_id, type, payload, attempts, created_at
         )
         select e.id, e.event_id, e.subscription_id, e.type, e.payload, e.attempts, e.created_at,
                s.url, s.secret, s.council_gss as subscription_council,
                coalesce(c.council_gss, c.requested_council_gss) as case_council,
                c.reference, c.status, c.council_gss, c.service_code, c.back_office_status, c.council_reference
           from e
           join webhook_subscriptions s on s.id = e.subscription_id
           join cases c on c.id = e.case_id`,
        values: [job.webhookEventId]
      })
      return rows[0]
    },
    // delivered or dead already (a duplicate job), or its subscription was deleted
    exists: async () => ((await deps.db.query('select 1 from webhook_events where id = $1', [job.webhookEventId])).rowCount ?? 0) > 0,
    attempt: (event) => attemptSend(deps, event),
    describe: (event) => ({ rowId: event.id, id: event.event_id, context: { eventId: event.event_id, subscriptionId: event.subscription_id, type: event.type, attempt: event.attempts } }),
    settle: async (event, outcome, result) => {
      await deps.db.query({
        name: 'webhook-settle',
        text: `with settled as (
           update webhook_events
              set state = $2, last_status = $3, last_error = $4,
                  delivered_at = case when $2 = 'delivered' then now() else delivered_at end
            where id = $1
         )
         update outbox set done_at = clock_timestamp() where id = $5 and done_at is null`,
        values: [event.id, outcome, result.status, outcome === 'delivered' ? null : result.detail, job.outboxId]
      })
    }
  })
}

async function attemptSend(deps: WebhookSendDeps, e: ClaimedEvent): Promise<AttemptResult> {
  // A case moved to another council since the event: its old council no longer hears of it.
  if (e.case_council !== e.subscription_council) {
    return { ok: false, permanent: true, status: null, detail: 'not sent: the case is no longer with this council' }
  }
  // checked when subscribing too; names are checked as they are resolved, in `outbound`
  const { production, outbound } = deps.settings
  const refused = refusedAttempt(e.url, { production, addresses: outbound.policy })
  if (refused) return refused
  const body = webhookBody(e)
  return postJson(outbound, e.url, { 'user-agent': 'Switchboard-Webhooks/1', ...webhookHeaders(e.secret, e.event_id, body) }, body, deps.settings.timeoutMs)
}
