import Type from 'typebox'
import { UPDATE_STATUSES } from '../../cases/council-updates.js'
import type { CouncilCase } from '../../councils/council-cases.js'
import { externalReportView } from '../../delivery/external-report.js'
import { AppError } from '../../errors.js'
import { CaseReference } from '../../intake/reference.js'
import { IntegerBetween, MultiLine, Nullable, SingleLine, StringEnum, Timestamp, describedPattern } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'

/** The case API's schemas (cases.ts): what it takes, its view of a case, its page cursor. */

export const CaseView = Type.Object({
  reference: Type.String(),
  status: Type.String(),
  back_office_status: Nullable(Type.String()),
  status_notes: Nullable(Type.String()),
  priority: Type.String(),
  channel: Type.String(),
  council_gss: Type.String(),
  council_reference: Nullable(Type.String()),
  service_code: Nullable(Type.String()),
  service_lgsl: Nullable(Type.Integer({ description: "the service's Local Government Service List code (standards.esd.org.uk), the same for every council" })),
  team: Nullable(Type.String()),
  postcode: Nullable(Type.String()),
  lat: Nullable(Type.Number()),
  lng: Nullable(Type.Number()),
  uprn: Nullable(Type.String({ description: 'the Unique Property Reference Number of the property the case is about' })),
  usrn: Nullable(Type.String({ description: 'the Unique Street Reference Number of the street the case is about' })),
  external_report: Nullable(
    Type.Object(
      {
        client: Nullable(Type.String({ description: "'fixmystreet', or the reporting client's own name" })),
        id: Nullable(Type.String({ description: "the client's own id for the report" })),
        url: Nullable(Type.String({ description: "the report's public page" })),
        title: Nullable(Type.String()),
        closest_address: Nullable(Type.String()),
        easting: Nullable(Type.Number({ description: 'British National Grid, metres' })),
        northing: Nullable(Type.Number({ description: 'British National Grid, metres' }))
      },
      { description: 'what the reporting client (FixMyStreet) told of its report; null for a case that came from none' }
    )
  ),
  description: Type.String(),
  reported_name: Nullable(Type.String()),
  reported_email: Nullable(Type.String()),
  reported_phone: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
  routed_at: Nullable(Timestamp),
  sla_due_at: Nullable(Timestamp)
})
export const CaseDetail = Type.Intersect([
  CaseView,
  Type.Object({
    messages: Type.Array(
      Type.Object({
        id: Type.Integer(),
        direction: Type.String(),
        channel: Type.String(),
        kind: Nullable(Type.String()),
        subject: Nullable(Type.String()),
        body: Type.String(),
        status: Nullable(Type.String()),
        author: Nullable(Type.String()),
        created_at: Timestamp
      })
    ),
    events: Type.Array(Type.Object({ type: Type.String(), actor: Type.String(), reason: Type.String(), data: Type.Record(Type.String(), Type.Unknown()), created_at: Timestamp }))
  })
])
export const Params = Type.Object({ reference: CaseReference() })
export const Status = StringEnum(UPDATE_STATUSES, { description: "the council's status, as Open311's service request updates name them" })
export const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody, 503: ErrorBody }
export const security = [{ councilKey: [] }]

const Uprn = (description: string) => Type.String({ pattern: describedPattern('^[0-9]{1,12}$', 'must be a UPRN: up to 12 digits'), description })
const Usrn = (description: string) => Type.String({ pattern: describedPattern('^[0-9]{1,8}$', 'must be a USRN: up to 8 digits'), description })

/** GET /v1/cases: what to list, and which page. */
export const ListQuery = Type.Object(
  {
    status: Type.Optional(StringEnum(['received', 'triage', 'routed', 'with_back_office', 'resolved'])),
    service: Type.Optional(SingleLine({ maxLength: 64 })),
    reference: Type.Optional(CaseReference()),
    uprn: Type.Optional(Uprn('only cases about this property (Unique Property Reference Number)')),
    usrn: Type.Optional(Usrn('only cases about this street (Unique Street Reference Number)')),
    updated_since: Type.Optional(Type.String({ format: 'date-time' })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: IntegerBetween(1, 500, { default: 100 })
  },
  { additionalProperties: false }
)

/** PATCH /v1/cases/:reference: the fields a council's system may set. */
export const CaseFields = Type.Object(
  {
    status: Type.Optional(Status),
    priority: Type.Optional(StringEnum(['low', 'normal', 'high', 'urgent'])),
    council_reference: Type.Optional(SingleLine({ minLength: 1, maxLength: 100 })),
    uprn: Type.Optional(Uprn("the property the case is about, from the council's gazetteer")),
    usrn: Type.Optional(Usrn('the street the case is about'))
  },
  { additionalProperties: false, minProperties: 1, examples: [{ status: 'in_progress', priority: 'high', council_reference: 'WCC-WASTE-4411', uprn: '100030491234' }] }
)

/** POST /v1/cases/:reference/updates: a status update, and whether the resident is told. */
export const CouncilUpdate = Type.Object(
  {
    status: Status,
    description: Type.Optional(MultiLine({ maxLength: 1600 })),
    for_resident: Type.Boolean({ default: true }),
    update_id: Type.Optional(SingleLine({ minLength: 1, maxLength: 100 }))
  },
  { additionalProperties: false, examples: [{ status: 'action_scheduled', description: 'A crew will come on Friday.', for_resident: true, update_id: 'WASTE-88121-3' }] }
)

/** A case as the API gives it: the reporting client's report read field by field. */
export const councilView = <T extends CouncilCase>(c: T) => ({ ...c, external_report: externalReportView(c.external_report) })

/** An opaque cursor: the (updated_at, id) of the last case of a page. */
export const encodeCursor = (c: { updated_at_exact: string; id: number }) => Buffer.from(`${c.updated_at_exact}|${c.id}`).toString('base64url')
export function decodeCursor(cursor: string): { updatedAt: string; id: number } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|')
  if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/.test(at ?? '') || !/^[0-9]{1,18}$/.test(id ?? '')) {
    throw new AppError('validation_failed', { field: 'cursor', message: 'The cursor is not one this API gave' })
  }
  return { updatedAt: at!, id: Number(id) }
}
