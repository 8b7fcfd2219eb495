// The catalogue imports nothing of the domains that write events (they import the
// recorder, so their types here would tie them in a circle): a status is named as text,
// with where its values are defined.
/** a work status, as src/agents/work.ts WORK_STATUSES names them */
type WorkStatus = string
/** a council's status, as src/cases/council-updates.ts UPDATE_STATUSES names them */
type UpdateStatus = string
/** 'first_response' or 'resolution' (src/sla/clocks.ts) */
type SlaClock = string

/**
 * Who may see a case event:
 * - `audit`: operators (the admin case view): every event.
 * - `agents`: the contact centre of the case's partnership (its live view, its workspace).
 * - `council`: the council's own system, in the case API (`GET /v1/cases/{ref}`); Open311
 *   shows no case events, only the council's own status updates.
 * - `webhook`: what the council's webhook subscriptions are sent (under the entry's `webhook` name).
 * - `resident`: the resident's own correspondence: what they sent us and what we sent them.
 */
export type Audience = 'audit' | 'agents' | 'council' | 'webhook' | 'resident'

/** The case events a council can subscribe to its webhooks for (src/webhooks/subscriptions.ts). */
export const WEBHOOK_EVENT_TYPES = ['case.created', 'case.routed', 'case.updated', 'message.created'] as const
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]

/** What agents' live view calls the events it shows (src/realtime/hub.ts). */
export type LiveName = 'case.routed' | 'case.assigned' | 'case.updated' | 'message.created' | 'sla.warning' | 'sla.breached'

/** The type of an event's `data`, for the compiler only: at run time it is an empty object. */
export interface Shape<T extends object> {
  readonly __data?: T
}
const shape = <T extends object>(): Shape<T> => ({})

/** No data: the row keeps the column's default, `{}`. */
type Nothing = Record<string, never>

interface Entry {
  audiences: readonly Audience[]
  /** the webhook event it is sent to council subscriptions as: exactly when `audiences` has 'webhook' */
  webhook?: WebhookEventType
  /** what agents' live view calls it; none: agents see it in the case's history only */
  live?: LiveName
  data: Shape<object>
}

// The usual groups. What an agent writes for colleagues (notes, transfer and merge reasons,
// who holds a case), the contact centre's own workflow and SLA clocks, and operators'
// records (deliveries, erasure, legal holds) never reach a council or a resident.
const EVERYONE = ['audit', 'agents', 'council', 'webhook', 'resident'] as const
const COUNCIL_AND_HOOKS = ['audit', 'agents', 'council', 'webhook'] as const
const COUNCIL = ['audit', 'agents', 'council'] as const
const CONTACT_CENTRE = ['audit', 'agents'] as const
const OPERATORS = ['audit'] as const

/** A contact taken in (src/intake/sql/intake.sql). */
interface Contact {
  provider: string | null
  raw_inbound_id: number
  /** the contact points the channel proved */
  verified: ('phone' | 'email')[]
  /** automatic mail, attached to the case and changing nothing */
  kind?: 'auto_reply' | 'bounce' | 'list'
  /** how a mail was known to belong to its case */
  thread?: string
}
/** How a message to the resident went (src/messaging/send-message.ts). */
interface Sending {
  message_id: number
  status: string
}
/** How an attempt to deliver a case to the back office ended. */
interface DeliveryAttempt {
  /** the delivery's public id */
  delivery_id: string
  attempt: number
}
interface SlaClockEvent {
  clock: SlaClock
  /** UTC, to the millisecond */
  due_at: string
}
interface ErasureRequest {
  erasure_id: number
}

/**
 * Every case event type the system writes (src, workers and the SQL functions and triggers),
 * with who may see it, the names it goes by, and the shape of its `data`: adding a type is
 * adding its entry here. TypeScript writes events through src/events/record.ts, which holds
 * each write's data to its type's shape; a type written without an entry here fails
 * test/events/audience.test.ts; a council-facing read or the webhook fan-out shows a type
 * only when its entry names that audience. The `data` of events already stored is read by
 * council systems, webhooks and exports: a shape may gain fields, never change one.
 */
export const EVENTS = {
  // intake and routing
  'case.opened': { audiences: EVERYONE, webhook: 'case.created', data: shape<Contact>() },
  'message.received': { audiences: EVERYONE, webhook: 'message.created', live: 'message.created', data: shape<Contact>() },
  'case.service_chosen': { audiences: COUNCIL, data: shape<{ service_code: string }>() },
  'case.routed': {
    audiences: COUNCIL_AND_HOOKS,
    webhook: 'case.routed',
    live: 'case.routed',
    data: shape<{ council_gss: string; team: string | null; destination_id: number | null; sla_hours: number }>()
  },
  // placed by a person: from routing, with the councils it could be; after routing failed, with the error
  'case.triaged': { audiences: CONTACT_CENTRE, live: 'case.routed', data: shape<{ candidates: string[]; partnership_id: string | null; error?: string }>() },
  'case.location_added': { audiences: ['audit', 'agents', 'council', 'resident'], data: shape<{ postcode: string }>() },
  'resident.asked_for_location': { audiences: ['audit', 'agents', 'resident'], data: shape<Nothing>() },
  'case.reopened': { audiences: CONTACT_CENTRE, live: 'case.updated', data: shape<{ message_id: number }>() },
  'call.queued': { audiences: CONTACT_CENTRE, data: shape<{ call_sid: string; queue: string }>() },
  // the council's own doing: a status update, or its own fields
  'case.updated': {
    audiences: COUNCIL_AND_HOOKS,
    webhook: 'case.updated',
    live: 'case.updated',
    data: shape<{ update_id: string; status: UpdateStatus } | { priority?: string; council_reference?: string; uprn?: string; usrn?: string }>()
  },
  'note.added': { audiences: COUNCIL_AND_HOOKS, webhook: 'message.created', data: shape<{ note: string }>() },
  // messages to the resident (replies, acknowledgements, status updates) and how they went
  'message.queued': { audiences: EVERYONE, webhook: 'message.created', live: 'message.created', data: shape<{ message_id: number; channel?: 'email' }>() },
  'message.sent': { audiences: CONTACT_CENTRE, data: shape<Sending>() },
  'message.kept': { audiences: CONTACT_CENTRE, data: shape<Sending>() },
  'message.failed': { audiences: CONTACT_CENTRE, data: shape<Sending>() },
  'message.blocked': { audiences: CONTACT_CENTRE, data: shape<Sending>() },
  // the contact centre's work: private to it
  'case.assigned': {
    audiences: CONTACT_CENTRE,
    live: 'case.assigned',
    data: shape<{ agent_id: number; how: 'round_robin' | 'claim' | 'next' | 'transfer'; team_id?: number }>()
  },
  'case.released': { audiences: CONTACT_CENTRE, live: 'case.assigned', data: shape<{ agent_id: number }>() },
  'case.transferred': {
    audiences: CONTACT_CENTRE,
    live: 'case.assigned',
    data: shape<{ from_agent_id: number | null; to_agent_id: number } | { from_agent_id: number | null; from_team_id: number | null; to_team_id: number }>()
  },
  'case.work_status_changed': { audiences: CONTACT_CENTRE, live: 'case.updated', data: shape<{ from: WorkStatus; to: WorkStatus }>() },
  'note.internal': { audiences: CONTACT_CENTRE, data: shape<{ note: string }>() },
  'case.merged': {
    audiences: CONTACT_CENTRE,
    data: shape<{ merge_id: number; from_case: string; message_ids: number[]; delivery_ids: number[]; deliveries_kept: number }>()
  },
  'case.merged_into': { audiences: CONTACT_CENTRE, data: shape<{ merge_id: number; into_case: string }>() },
  'case.merge_undone': {
    audiences: CONTACT_CENTRE,
    data: shape<{ merge_id: number; from_case: string; into_case: string; message_ids: number[]; delivery_ids: number[] }>()
  },
  'resident.merged': { audiences: CONTACT_CENTRE, data: shape<{ merge_id: number; from_resident: number; into_resident: number }>() },
  'sla.warning': { audiences: CONTACT_CENTRE, live: 'sla.warning', data: shape<SlaClockEvent>() },
  'sla.breached': { audiences: CONTACT_CENTRE, live: 'sla.breached', data: shape<SlaClockEvent & { escalated_to: 'supervisor' }>() },
  // the satisfaction question after resolution, and the resident's answer (src/feedback/csat.ts)
  'csat.asked': { audiences: CONTACT_CENTRE, data: shape<{ channel: 'sms' | 'email' }>() },
  'csat.answered': { audiences: CONTACT_CENTRE, data: shape<{ score: number; channel: 'sms' | 'email' }>() },
  // the resolution clock after a wait on the resident: its new due time, and the pause (UTC)
  'sla.resumed': { audiences: CONTACT_CENTRE, data: shape<SlaClockEvent & { paused_at: string; resumed_at: string; paused_business_hours: number }>() },
  // deliveries to the back office: raw errors and destinations are operators' business
  'delivery.succeeded': { audiences: CONTACT_CENTRE, data: shape<DeliveryAttempt>() },
  'delivery.kept': { audiences: CONTACT_CENTRE, data: shape<DeliveryAttempt>() },
  'delivery.dead_lettered': { audiences: CONTACT_CENTRE, data: shape<DeliveryAttempt>() },
  'delivery.retried': { audiences: OPERATORS, data: shape<{ delivery_id: string }>() },
  // data protection: councils hear of an erasure by its own signed notice
  'case.erased': { audiences: CONTACT_CENTRE, data: shape<ErasureRequest>() },
  'erasure.refused': { audiences: OPERATORS, data: shape<ErasureRequest>() },
  'erasure.notified': { audiences: OPERATORS, data: shape<{ notice_id: string }>() },
  'erasure.notice_failed': { audiences: OPERATORS, data: shape<{ notice_id: string }>() },
  'legal_hold.set': { audiences: OPERATORS, data: shape<Nothing>() },
  'legal_hold.released': { audiences: OPERATORS, data: shape<Nothing>() }
} as const satisfies Record<string, Entry>

export type CaseEventType = keyof typeof EVENTS

/** The shape of a type's `data`; for a union of types, any of theirs. */
export type EventData<T extends CaseEventType> = T extends CaseEventType ? ((typeof EVENTS)[T]['data'] extends Shape<infer D> ? D : never) : never

type AudiencesOf<T extends CaseEventType> = (typeof EVENTS)[T]['audiences'][number]

/** Types whose entry names a webhook or live name its audiences do not allow, or lacks the webhook name they call for. */
type Misfits = {
  [T in CaseEventType]: ('webhook' extends AudiencesOf<T> ? true : false) extends ((typeof EVENTS)[T] extends { webhook: WebhookEventType } ? true : false)
    ? (typeof EVENTS)[T] extends { live: LiveName }
      ? 'agents' extends AudiencesOf<T>
        ? never
        : T
      : never
    : T
}[CaseEventType]
// the compiler holds each entry's names to its audiences: this line fails to compile, naming the type, otherwise
true satisfies [Misfits] extends [never] ? true : Misfits

/** Whether a name is a case event type of the catalogue. */
export function isCaseEventType(name: string): name is CaseEventType {
  return Object.hasOwn(EVENTS, name)
}
