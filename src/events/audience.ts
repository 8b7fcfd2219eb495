import type { WebhookEventType } from '../webhooks/subscriptions.js'

/**
 * Who may see a case event:
 * - `audit`: operators (the admin case view): every event.
 * - `agents`: the contact centre of the case's partnership (its live view, its workspace).
 * - `council`: the council's own system, in the case API (`GET /v1/cases/{ref}`); Open311
 *   shows no case events, only the council's own status updates.
 * - `webhook`: what the council's webhook subscriptions are sent (see WEBHOOK_NAME_OF).
 * - `resident`: the resident's own correspondence: what they sent us and what we sent them.
 */
export type Audience = 'audit' | 'agents' | 'council' | 'webhook' | 'resident'

// The usual groups. What an agent writes for colleagues (notes, transfer and merge reasons,
// who holds a case), the contact centre's own workflow and SLA clocks, and operators'
// records (deliveries, erasure, legal holds) never reach a council or a resident.
const EVERYONE = ['audit', 'agents', 'council', 'webhook', 'resident'] as const
const COUNCIL_AND_HOOKS = ['audit', 'agents', 'council', 'webhook'] as const
const COUNCIL = ['audit', 'agents', 'council'] as const
const CONTACT_CENTRE = ['audit', 'agents'] as const
const OPERATORS = ['audit'] as const

/**
 * Every case event type the system writes (src, workers and the SQL functions and triggers
 * of migrations/), with who may see it. A type written without an entry here fails
 * test/events/audience.test.ts; a council-facing read or the webhook fan-out shows a type
 * only when its entry names that audience.
 */
export const EVENT_AUDIENCES = {
  // intake and routing
  'case.opened': EVERYONE,
  'message.received': EVERYONE,
  'case.service_chosen': COUNCIL,
  'case.routed': COUNCIL_AND_HOOKS,
  'case.triaged': CONTACT_CENTRE,
  'case.location_added': ['audit', 'agents', 'council', 'resident'],
  'resident.asked_for_location': ['audit', 'agents', 'resident'],
  'case.reopened': CONTACT_CENTRE,
  'call.queued': CONTACT_CENTRE,
  // the council's own doing
  'case.updated': COUNCIL_AND_HOOKS,
  'note.added': COUNCIL_AND_HOOKS,
  // messages to the resident (replies, acknowledgements, status updates) and how they went
  'message.queued': EVERYONE,
  'message.sent': CONTACT_CENTRE,
  'message.kept': CONTACT_CENTRE,
  'message.failed': CONTACT_CENTRE,
  'message.blocked': CONTACT_CENTRE,
  // the contact centre's work: private to it
  'case.assigned': CONTACT_CENTRE,
  'case.released': CONTACT_CENTRE,
  'case.transferred': CONTACT_CENTRE,
  'case.work_status_changed': CONTACT_CENTRE,
  'note.internal': CONTACT_CENTRE,
  'case.merged': CONTACT_CENTRE,
  'case.merged_into': CONTACT_CENTRE,
  'case.merge_undone': CONTACT_CENTRE,
  'resident.merged': CONTACT_CENTRE,
  'sla.warning': CONTACT_CENTRE,
  'sla.breached': CONTACT_CENTRE,
  // deliveries to the back office: raw errors and destinations are operators' business
  'delivery.succeeded': CONTACT_CENTRE,
  'delivery.kept': CONTACT_CENTRE,
  'delivery.dead_lettered': CONTACT_CENTRE,
  'delivery.retried': OPERATORS,
  // data protection: councils hear of an erasure by its own signed notice
  'case.erased': CONTACT_CENTRE,
  'erasure.refused': OPERATORS,
  'erasure.notified': OPERATORS,
  'erasure.notice_failed': OPERATORS,
  'legal_hold.set': OPERATORS,
  'legal_hold.released': OPERATORS
} as const satisfies Record<string, readonly Audience[]>

export type CaseEventType = keyof typeof EVENT_AUDIENCES

/** The case event types this audience may see. */
export function eventTypesFor(audience: Audience): CaseEventType[] {
  return (Object.keys(EVENT_AUDIENCES) as CaseEventType[]).filter((t) => (EVENT_AUDIENCES[t] as readonly Audience[]).includes(audience))
}

/** What council systems' reads show (the case API's events): an allow-list, so a new type stays private until given an audience. */
export const COUNCIL_EVENT_TYPES: readonly CaseEventType[] = eventTypesFor('council')

type ForWebhooks = { [T in CaseEventType]: 'webhook' extends (typeof EVENT_AUDIENCES)[T][number] ? T : never }[CaseEventType]

/**
 * The webhook event each webhook-visible case event is sent as. The fan-out trigger
 * (case_event_webhook_type, src/webhooks/sql/fan-out.sql) names the same pairs, and a test holds it to
 * this table; the compiler holds this map to the `webhook` entries above.
 */
export const WEBHOOK_NAME_OF: Record<ForWebhooks, WebhookEventType> = {
  'case.opened': 'case.created',
  'case.routed': 'case.routed',
  'case.updated': 'case.updated',
  'message.received': 'message.created',
  'message.queued': 'message.created',
  'note.added': 'message.created'
}
