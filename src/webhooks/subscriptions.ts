import { withTransaction, type Db, type Queryable } from '../db/pool.js'
import { publicReason } from '../delivery/safe-fetch.js'
import type { OutboxRow } from '../jobs/outbox-relay.js'
import { newWebhookSecret } from './signing.js'

// The case events a council can subscribe to are named in the events catalogue, beside the
// case events sent as each (webhook_fan_out, src/webhooks/sql/fan-out.sql, maps them)
export { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../events/catalogue.js'
import type { WebhookEventType } from '../events/catalogue.js'

/** A subscription as listed: never its secret. */
export interface Subscription {
  id: number
  url: string
  events: WebhookEventType[]
  council: string
  created_at: Date
}

/** A dead-lettered event, as its council sees it. */
export interface DeadLetter {
  event_id: string
  subscription_id: number
  type: WebhookEventType
  case_reference: string
  attempts: number
  last_status: number | null
  /** a few words of ours ('timed out', 'HTTP 503'), never a raw socket error */
  last_error: string | null
  created_at: Date
}

/**
 * Every query here takes the councils the caller's key may act for and matches rows by
 * them, so another council's subscription or event is simply not found: the route answers
 * 404 and existence is not revealed.
 *
 * A new subscription, unless its council already has `max` active ones: then null. Each
 * subscription is one more POST per event of every case, so the count is capped per
 * council (a partnership key's subscriptions count for the member council each names).
 * The council's row is locked first, so that subscriptions made at once for one council
 * are counted one after the other, each seeing those made before it: a count and insert
 * alone would let them all see the same count.
 */
export async function createSubscription(
  db: Db,
  s: { council: string; url: string; events: WebhookEventType[] },
  max: number
): Promise<(Subscription & { secret: string }) | null> {
  return withTransaction(db, async (tx) => {
    // no key update: cases referencing the council are not held up (their key-share lock does not conflict)
    await tx.query('select 1 from councils where gss = $1 for no key update', [s.council])
    const { rows } = await tx.query<Subscription & { secret: string }>(
      `insert into webhook_subscriptions (council_gss, url, secret, events)
       select $1, $2, $3, $4
        where (select count(*) from webhook_subscriptions where council_gss = $1 and active) < $5
       returning id, url, events, council_gss as council, secret, created_at`,
      [s.council, s.url, newWebhookSecret(), [...new Set(s.events)], max]
    )
    return rows[0] ?? null
  })
}

export async function listSubscriptions(db: Queryable, councils: string[]): Promise<Subscription[]> {
  const { rows } = await db.query<Subscription>(
    `select id, url, events, council_gss as council, created_at from webhook_subscriptions
      where council_gss = any($1::text[]) and active order by id`,
    [councils]
  )
  return rows
}

/**
 * Deletes a subscription with its events: its secret is gone for good, and events still
 * pending are not sent (their jobs find nothing and finish). False when not the caller's.
 */
export async function deleteSubscription(db: Queryable, id: number, councils: string[]): Promise<boolean> {
  const { rowCount } = await db.query('delete from webhook_subscriptions where id = $1 and council_gss = any($2::text[])', [id, councils])
  return (rowCount ?? 0) > 0
}

export async function listDeadLetters(db: Queryable, councils: string[], limit: number): Promise<DeadLetter[]> {
  const { rows } = await db.query<DeadLetter>(
    `select e.event_id, e.subscription_id, e.type, c.reference as case_reference, e.attempts, e.last_status, e.last_error, e.created_at
       from webhook_events e
       join webhook_subscriptions s on s.id = e.subscription_id
       join cases c on c.id = e.case_id
      where s.council_gss = any($1::text[]) and e.state = 'dead'
      order by e.id desc limit $2`,
    [councils, limit]
  )
  return rows.map((r) => ({ ...r, last_error: publicReason(r.last_error) }))
}

export type ReplayResult = { found: false } | { found: true; outbox: OutboxRow | null }

/**
 * Sends a dead or delivered event again: back to pending with a fresh set of attempts,
 * under the same event id (so a receiver that dedupes by webhook-id still can), through a
 * new outbox row. An event still pending is on its way already: nothing is added.
 */
export async function replayEvent(db: Db, eventId: string, councils: string[]): Promise<ReplayResult> {
  return withTransaction(db, async (tx) => {
    const found = await tx.query<{ id: number; state: string }>(
      `select e.id, e.state from webhook_events e join webhook_subscriptions s on s.id = e.subscription_id
        where e.event_id = $1 and s.council_gss = any($2::text[]) and s.active
        for update of e`,
      [eventId, councils]
    )
    const event = found.rows[0]
    if (!event) return { found: false }
    if (event.state === 'pending') return { found: true, outbox: null }
    await tx.query(`update webhook_events set state = 'pending', attempts = 0, delivered_at = null where id = $1`, [event.id])
    const outbox = await tx.query<OutboxRow>(
      `insert into outbox (topic, payload) values ('webhook:send', jsonb_build_object('webhook_event_id', $1::bigint)) returning id, topic, payload, job_key`,
      [event.id]
    )
    return { found: true, outbox: outbox.rows[0]! }
  })
}
