import Type, { type Static } from 'typebox'
import { Nullable, StringEnum } from '../lib/schema.js'

/**
 * The JSON Schema of a subject access export (src/data-protection/export.ts), published with
 * the OpenAPI document as the 200 answer of POST /v1/admin/residents/export. Objects are
 * closed (additionalProperties: false): a column added to the export without being described
 * here fails the export's own test instead of reaching a resident undocumented.
 */

/** Its value of `schema`: a reader can tell which shape it holds; a new shape gets a new version. */
export const SUBJECT_ACCESS_VERSION = 'switchboard.subject-access.v1'

/** The schema's $id: its name in the OpenAPI document (components.schemas, as its title). */
export const SUBJECT_ACCESS_SCHEMA_ID = 'SubjectAccessExport'

// the export writes its dates itself (ISO 8601), so the schema says string, not Date
const At = Type.String({ format: 'date-time' })
const Closed = { additionalProperties: false } as const

const ContactPointKind = StringEnum(['email', 'phone'] as const)

/**
 * A string enum or null, with null in the enum itself. Nullable(StringEnum(...)) is right as
 * JSON Schema, but @fastify/swagger folds it into OpenAPI 3.0's `nullable: true` beside an
 * enum without null, which (OpenAPI 3.0.3, and Ajv) then refuses null.
 */
function NullableEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}) {
  return Type.Unsafe<T[number] | null>({ type: ['string', 'null'], enum: [...values, null], ...options })
}

const ContactPoint = Type.Object(
  {
    kind: ContactPointKind,
    value: Type.String({ description: 'E.164 phone number or lower-cased email address' }),
    standing: StringEnum(['verified', 'claimed'] as const, {
      description: 'verified: a channel proved it (a signed text or call from the number, a reply to our own mail); claimed: someone typed it'
    }),
    verified_at: Nullable(At),
    verified_by: Nullable(Type.String({ description: 'the channel that proved it' })),
    first_seen_at: At,
    last_seen_at: At,
    failing_since: Nullable(At),
    failing_detail: Nullable(Type.String({ description: 'why messages to it fail, as the provider said' }))
  },
  Closed
)

const Resident = Type.Object(
  {
    id: Type.Integer(),
    display_name: Nullable(Type.String()),
    created_at: At,
    merged_into: Nullable(Type.Integer({ description: 'the resident this one was joined to by an agent' })),
    erased_at: Nullable(At),
    contact_points: Type.Array(ContactPoint)
  },
  Closed
)

const ResidentMerge = Type.Object(
  {
    from_resident: Type.Integer(),
    into_resident: Type.Integer(),
    actor: Type.String({ description: 'who joined them (agent:<id>)' }),
    reason: Type.String(),
    created_at: At
  },
  Closed
)

const SmsOptOut = Type.Object(
  {
    phone: Type.String(),
    opted_out: Type.Boolean({ description: 'true after STOP: nothing is sent to the number' }),
    keyword: Type.String({ description: 'the word that changed it (STOP, START ...)' }),
    changed_at: At
  },
  Closed
)

const Attachment = Type.Object(
  {
    position: Type.Integer(),
    filename: Nullable(Type.String()),
    content_type: Type.String(),
    size_bytes: Nullable(Type.Integer()),
    state: Type.String(),
    sha256: Nullable(Type.String()),
    inline: Type.Boolean()
  },
  { ...Closed, description: "An attachment's or MMS picture's description; its bytes are supplied on request, not in this document" }
)

const Message = Type.Object(
  {
    id: Type.Integer(),
    direction: StringEnum(['inbound', 'outbound'] as const),
    channel: Type.String(),
    kind: Nullable(Type.String()),
    body: Type.String(),
    sender: Nullable(Type.String()),
    recipient: Nullable(Type.String()),
    subject: Nullable(Type.String()),
    status: Nullable(Type.String({ description: 'for a message sent to the resident: queued, sent, delivered, failed, blocked ...' })),
    status_changed_at: Nullable(At),
    author: Nullable(Type.String({ description: 'who wrote a message sent to the resident (agent:<id>, operator, the system)' })),
    created_at: At,
    redacted_at: Nullable(At),
    attachments: Type.Array(Attachment)
  },
  Closed
)

const Recording = Type.Object(
  {
    message_id: Nullable(Type.Integer({ description: 'the voicemail message it belongs to' })),
    recording_sid: Type.String(),
    duration_secs: Nullable(Type.Integer()),
    transcription_status: Nullable(Type.String()),
    transcription: Nullable(Type.String()),
    created_at: At,
    redacted_at: Nullable(At)
  },
  { ...Closed, description: 'A voicemail: the recording itself is supplied on request, not in this document' }
)

const Event = Type.Object(
  {
    id: Type.Integer(),
    type: Type.String(),
    actor: Type.String({ description: 'who acted: agent:<id>, api_key:<id>, operator, or a part of the system (intake:sms, router ...)' }),
    reason: Type.String(),
    data: Type.Record(Type.String(), Type.Unknown()),
    created_at: At
  },
  Closed
)

const CouncilUpdate = Type.Object(
  {
    status: Type.String(),
    description: Type.String(),
    for_resident: Type.Boolean(),
    source: Type.String(),
    external_status_code: Nullable(Type.String()),
    updated_at: At,
    created_at: At
  },
  Closed
)

const CouncilSystem = {
  council_gss: Type.String(),
  council_name: Nullable(Type.String()),
  team: Type.String(),
  kind: StringEnum(['webhook', 'email'] as const, { description: "a signed webhook to the council's system, or an email to a team mailbox" })
}

const Delivery = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    ...CouncilSystem,
    state: Type.String(),
    attempts: Type.Integer(),
    created_at: At,
    delivered_at: Nullable(At)
  },
  { ...Closed, description: "The case handed to a council's back-office system" }
)

const WebhookEvent = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    council_gss: Type.String({ description: 'the council whose system subscribed' }),
    type: Type.String(),
    state: Type.String(),
    created_at: At,
    delivered_at: Nullable(At)
  },
  { ...Closed, description: "An event about the case sent to a council system's webhook subscription (case fields only, no resident details)" }
)

const ErasureNotice = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    ...CouncilSystem,
    state: Type.String(),
    created_at: At,
    delivered_at: Nullable(At)
  },
  { ...Closed, description: 'A council system told that the case was erased' }
)

const Read = Type.Object(
  {
    id: Type.Integer(),
    at: At,
    actor_kind: StringEnum(['agent', 'council_key', 'operator'] as const),
    actor: Type.String({ description: 'agent:<id>, api_key:<id>, operator or operator:cli' }),
    route: Type.String({ description: 'the route it was read through' })
  },
  { ...Closed, description: "A recorded read of the case's personal data" }
)

const LegalHold = Type.Object({ reason: Type.String(), at: At, by: Nullable(Type.String()) }, Closed)

const Case = Type.Object(
  {
    reference: Type.String(),
    channel: Type.String(),
    status: Type.String(),
    work_status: Type.String(),
    priority: Type.String(),
    council_gss: Nullable(Type.String()),
    council_name: Nullable(Type.String()),
    service_code: Nullable(Type.String()),
    service_name: Nullable(Type.String()),
    team: Nullable(Type.String()),
    reported_name: Nullable(Type.String()),
    reported_email: Nullable(Type.String()),
    reported_phone: Nullable(Type.String()),
    contacted_address: Nullable(Type.String({ description: 'the number or mailbox of ours it was reported to' })),
    description: Type.String(),
    postcode: Nullable(Type.String()),
    lat: Nullable(Type.Number()),
    lng: Nullable(Type.Number()),
    uprn: Nullable(Type.String({ description: 'the property the case is about (Unique Property Reference Number)' })),
    usrn: Nullable(Type.String({ description: 'the street the case is about (Unique Street Reference Number)' })),
    external_report: Nullable(Type.Record(Type.String(), Type.Unknown(), { description: 'what the reporting client (FixMyStreet) said of its report: its id, page, title, closest address' })),
    status_notes: Nullable(Type.String()),
    council_reference: Nullable(Type.String()),
    back_office_status: Nullable(Type.String()),
    created_at: At,
    updated_at: At,
    routed_at: Nullable(At),
    legal_hold: Nullable(LegalHold),
    redacted_at: Nullable(At),
    redaction: NullableEnum(['erasure', 'retention'] as const, { description: 'why the personal data was overwritten' }),
    messages: Type.Array(Message),
    recordings: Type.Array(Recording),
    events: Type.Array(Event),
    council_updates: Type.Array(CouncilUpdate),
    deliveries: Type.Array(Delivery),
    webhook_events: Type.Array(WebhookEvent),
    erasure_notices: Type.Array(ErasureNotice),
    reads: Type.Array(Read)
  },
  Closed
)

const ErasureRequest = Type.Object(
  {
    id: Type.Integer(),
    requested_by: Type.String(),
    reason: Type.String(),
    cases_erased: Type.Integer(),
    held: Type.Array(Type.Unknown({ description: 'a case kept under legal hold: { reference, reason }' })),
    created_at: At
  },
  Closed
)

/** Everything Switchboard holds about the person at one contact point. */
export const SubjectAccessExport = Type.Object(
  {
    schema: Type.Literal(SUBJECT_ACCESS_VERSION),
    generated_at: At,
    contact: Type.Object({ kind: ContactPointKind, value: Type.String() }, { ...Closed, description: 'the contact the export was asked for, normalised' }),
    residents: Type.Array(Resident, { description: 'who holds the contact, and every resident joined to them' }),
    resident_merges: Type.Array(ResidentMerge),
    sms_opt_outs: Type.Array(SmsOptOut, { description: "the STOP/START state of the residents' phone numbers" }),
    cases: Type.Array(Case, { description: 'their cases, and any case reported with this contact; oldest first' }),
    erasure_requests: Type.Array(ErasureRequest, { description: 'erasures of these residents, and what was kept under legal hold' })
  },
  {
    ...Closed,
    $id: SUBJECT_ACCESS_SCHEMA_ID,
    title: SUBJECT_ACCESS_SCHEMA_ID,
    description:
      'Subject access (UK GDPR art. 15): every record Switchboard holds about the person at one email address or phone number. ' +
      "Raw provider payloads and raw mail are the same messages as received and are not repeated; attachments' and recordings' bytes are supplied on request."
  }
)

export type SubjectAccessExport = Static<typeof SubjectAccessExport>
