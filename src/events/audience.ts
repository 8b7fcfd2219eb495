import { EVENTS, type Audience, type CaseEventType, type LiveName, type WebhookEventType } from './catalogue.js'

// Who sees which case event, as read from the catalogue (src/events/catalogue.ts).
export type { Audience, CaseEventType, LiveName }

/** Each case event type's audiences (see Audience). */
export const EVENT_AUDIENCES = Object.fromEntries(Object.entries(EVENTS).map(([type, e]) => [type, e.audiences])) as {
  [T in CaseEventType]: (typeof EVENTS)[T]['audiences']
}

/** The case event types this audience may see. */
export function eventTypesFor(audience: Audience): CaseEventType[] {
  return (Object.keys(EVENT_AUDIENCES) as CaseEventType[]).filter((t) => (EVENT_AUDIENCES[t] as readonly Audience[]).includes(audience))
}

/** What council systems' reads show (the case API's events): an allow-list, so a new type stays private until given an audience. */
export const COUNCIL_EVENT_TYPES: readonly CaseEventType[] = eventTypesFor('council')

type ForWebhooks = { [T in CaseEventType]: 'webhook' extends (typeof EVENT_AUDIENCES)[T][number] ? T : never }[CaseEventType]

/**
 * The webhook event each webhook-visible case event is sent as (the entries' `webhook` names).
 * The fan-out trigger (case_event_webhook_type, src/webhooks/sql/fan-out.sql) names the same
 * pairs, and a test holds it to this table; the compiler holds the catalogue's `webhook` names
 * to its `webhook` audiences.
 */
export const WEBHOOK_NAME_OF = Object.fromEntries(
  Object.entries(EVENTS).flatMap(([type, e]) => ('webhook' in e ? [[type, e.webhook]] : []))
) as Record<ForWebhooks, WebhookEventType>

type ForLiveView = { [T in CaseEventType]: (typeof EVENTS)[T] extends { live: LiveName } ? T : never }[CaseEventType]

/**
 * What agents' live view calls each case event it shows (the entries' `live` names): the
 * rest of what agents may see is in a case's history only. The announcing trigger
 * (announce_case_event, src/realtime/sql/announce.sql) lists the same types, and a test holds
 * it to src/realtime/hub.ts LIVE_TYPES, which is made of this table.
 */
export const LIVE_NAME_OF = Object.fromEntries(Object.entries(EVENTS).flatMap(([type, e]) => ('live' in e ? [[type, e.live]] : []))) as Record<ForLiveView, LiveName>
