import Type, { type Static } from 'typebox'
import { MultiLine, SingleLine } from '../lib/schema.js'

// The JSON shapes of the answers, as test/fixtures/open311/*.json (open311/schema-validation)
// describe them: string ids, real booleans, datetimes with a timezone, null for what we lack.
const NullableString = Type.Union([Type.String(), Type.Null()])
const NullableTime = Type.Union([Type.String({ format: 'date-time' }), Type.Null()])

export const ErrorList = Type.Array(Type.Object({ code: Type.Integer(), description: Type.String() }), {
  description: 'Errors as the standard has them; the HTTP status equals the code'
})

export const ServiceItem = Type.Object({
  service_code: Type.String(),
  service_name: Type.String(),
  description: NullableString,
  metadata: Type.Boolean({ description: 'true when GET /services/{service_code} has attributes to ask' }),
  type: Type.String({ enum: ['realtime', 'batch', 'blackbox'] }),
  keywords: NullableString,
  group: NullableString
})

export const ServiceDefinition = Type.Object({
  service_code: Type.String(),
  attributes: Type.Array(
    Type.Object({
      variable: Type.Boolean(),
      code: Type.String(),
      datatype: Type.String({ enum: ['string', 'number', 'datetime', 'text', 'singlevaluelist', 'multivaluelist'] }),
      required: Type.Boolean(),
      datatype_description: NullableString,
      order: Type.Integer(),
      description: Type.String(),
      values: Type.Optional(Type.Array(Type.Object({ key: Type.String(), name: Type.String() })))
    })
  )
})

export const RequestRecord = Type.Object({
  service_request_id: Type.String(),
  status: Type.String({ enum: ['open', 'closed'] }),
  status_notes: NullableString,
  service_name: NullableString,
  service_code: Type.String(),
  description: Type.Union([Type.String({ maxLength: 4000 }), Type.Null()]),
  agency_responsible: NullableString,
  service_notice: NullableString,
  requested_datetime: Type.String({ format: 'date-time' }),
  updated_datetime: NullableTime,
  expected_datetime: NullableTime,
  address: NullableString,
  address_id: NullableString,
  zipcode: NullableString,
  lat: Type.Union([Type.Number(), Type.Null()]),
  long: Type.Union([Type.Number(), Type.Null()]),
  media_url: NullableString
})
export type RequestRecord = Static<typeof RequestRecord>

export const Created = Type.Array(
  Type.Object({ service_request_id: Type.String(), service_notice: NullableString, account_id: NullableString })
)

export const TokenAnswer = Type.Array(Type.Object({ service_request_id: Type.String(), token: Type.String() }))

export const UpdateRecord = Type.Object({
  update_id: Type.String(),
  service_request_id: Type.String(),
  status: Type.String(),
  updated_datetime: Type.String({ format: 'date-time' }),
  description: Type.String(),
  media_url: Type.String(),
  external_status_code: Type.Optional(Type.String())
})

export const Discovery = Type.Object({
  changeset: Type.String({ format: 'date-time' }),
  contact: Type.String(),
  key_service: Type.String(),
  endpoints: Type.Array(
    Type.Object({ specification: Type.String(), url: Type.String(), changeset: Type.String(), type: Type.String(), formats: Type.Array(Type.String()) })
  )
})

const GSS = SingleLine({ maxLength: 9, description: "The council's ONS GSS code, e.g. E07000132" })
const ApiKey = SingleLine({ maxLength: 100, description: 'The council key (open311 scope); may also be sent as Authorization: Bearer' })
const IsoTime = Type.String({ format: 'date-time', description: 'ISO 8601 with a timezone' })

export const JurisdictionQuery = Type.Object({ jurisdiction_id: GSS, api_key: Type.Optional(ApiKey) })

export const RequestsQuery = Type.Object({
  jurisdiction_id: GSS,
  api_key: Type.Optional(ApiKey),
  service_request_id: Type.Optional(SingleLine({ maxLength: 2000, description: 'Comma-separated references; overrides every other filter' })),
  service_code: Type.Optional(SingleLine({ maxLength: 2000, description: 'Comma-separated service codes' })),
  start_date: Type.Optional(IsoTime),
  end_date: Type.Optional(IsoTime),
  status: Type.Optional(Type.String({ enum: ['open', 'closed'] }))
})

export const UpdatesQuery = Type.Object({
  jurisdiction_id: GSS,
  api_key: Type.Optional(ApiKey),
  start_date: Type.Optional(IsoTime),
  end_date: Type.Optional(IsoTime)
})

// a bound for the validator only: far above what a case keeps, within the body limit
const FREE_TEXT = 1_000_000

const Coordinate = Type.String({ maxLength: 32, pattern: '^\\s*-?[0-9]{1,3}(\\.[0-9]+)?\\s*$', description: 'Decimal degrees (WGS84)' })

/**
 * A POST /requests form. Each field is text (a form has no other type); attribute[code]
 * and attribute[code][] carry the service's questions. Other parameters are ignored, as
 * clients add their own.
 */
export const PostRequestBody = Type.Unsafe<{
  api_key?: string
  jurisdiction_id: string
  service_code: string
  lat?: string
  long?: string
  address_string?: string
  address_id?: string
  email?: string
  device_id?: string
  deviceid?: string
  account_id?: string
  first_name?: string
  last_name?: string
  phone?: string
  description?: string
  media_url?: string
  // what some clients send about their own report as plain fields (FixMyStreet: attributes)
  fixmystreet_id?: string
  title?: string
  report_url?: string
  closest_address?: string
  easting?: string
  northing?: string
  uprn?: string
  usrn?: string
  [attribute: string]: string | string[] | undefined
}>({
  type: 'object',
  required: ['jurisdiction_id', 'service_code'],
  properties: {
    api_key: ApiKey,
    jurisdiction_id: GSS,
    service_code: SingleLine({ minLength: 1, maxLength: 64 }),
    lat: Coordinate,
    long: Coordinate,
    // Limits here only bound what one form may make us hold; what a person typed is never
    // refused for its length (the request body limit caps the whole): a text longer than a
    // case keeps is cut with a note (src/open311/inbound.ts), as the standard's 4,000 for a
    // description is one FixMyStreet does not keep to.
    address_string: MultiLine({ maxLength: FREE_TEXT }),
    address_id: SingleLine({ maxLength: 200 }),
    email: SingleLine({ maxLength: 1000 }),
    device_id: SingleLine({ maxLength: 200 }),
    deviceid: SingleLine({ maxLength: 200 }),
    account_id: SingleLine({ maxLength: 200 }),
    first_name: SingleLine({ maxLength: 1000 }),
    last_name: SingleLine({ maxLength: 1000 }),
    phone: SingleLine({ maxLength: 1000, description: 'As the reporter typed it; kept as written when it is not a number we recognise' }),
    description: MultiLine({ maxLength: FREE_TEXT, description: 'Any length; a case keeps the first 20,000 characters and notes the cut' }),
    media_url: Type.String({ format: 'uri', maxLength: 2000, pattern: '^https?://' })
  },
  patternProperties: {
    '^attribute\\[[A-Za-z0-9_.-]{1,64}\\](\\[\\])?$': {
      anyOf: [MultiLine({ maxLength: FREE_TEXT }), Type.Array(MultiLine({ maxLength: FREE_TEXT }), { maxItems: 50 })]
    }
  },
  examples: [
    {
      api_key: 'sbk_…',
      jurisdiction_id: 'E07000132',
      service_code: 'missed_bin',
      'attribute[bin_type]': 'recycling',
      'attribute[uprn]': '100030491234',
      lat: '52.5409',
      long: '-1.3727',
      address_id: '#NOTPINPOINTED#',
      deviceid: 'fms-2f6c',
      email: 'resident@example.org',
      first_name: 'Pat',
      last_name: 'Resident',
      description: 'The recycling bin was not emptied on Tuesday.'
    }
  ]
})
export type PostRequestBody = Static<typeof PostRequestBody>

// A comment from the public, as FixMyStreet posts one: with extended updates it sends
// update_id_ext and service_request_id_ext (its own ids) instead of update_id.
const Flag = SingleLine({ maxLength: 10, description: 'TRUE or FALSE' })
export const PostUpdateBody = Type.Object({
  api_key: Type.Optional(ApiKey),
  jurisdiction_id: GSS,
  service_request_id: SingleLine({ minLength: 1, maxLength: 64 }),
  update_id: Type.Optional(SingleLine({ maxLength: 200, description: "The client's id for this comment; the same one again on the same request is a no-op" })),
  update_id_ext: Type.Optional(SingleLine({ maxLength: 200, description: "FixMyStreet's extended updates: its comment id, used when update_id is absent" })),
  service_request_id_ext: Type.Optional(SingleLine({ maxLength: 200, description: "FixMyStreet's extended updates: its report id (kept as sent)" })),
  updated_datetime: IsoTime,
  status: SingleLine({ minLength: 1, maxLength: 64, description: "The reporter's view, upper case: OPEN, REOPEN, FIXED, CLOSED, …; never the case's status" }),
  description: MultiLine({ maxLength: FREE_TEXT, description: 'Any length; a case keeps the first 20,000 characters and notes the cut' }),
  email: Type.Optional(SingleLine({ maxLength: 1000, description: "The commenter's email, as the client has it (a claim; kept as written when it is not an address)" })),
  first_name: Type.Optional(SingleLine({ maxLength: 100 })),
  last_name: Type.Optional(SingleLine({ maxLength: 100 })),
  title: Type.Optional(SingleLine({ maxLength: 100 })),
  media_url: Type.Optional(Type.String({ maxLength: 2000 })),
  public_anonymity_required: Type.Optional(Flag),
  email_alerts_requested: Type.Optional(Flag)
}, {
  examples: [
    {
      api_key: 'sbk_…',
      jurisdiction_id: 'E07000132',
      service_request_id: 'SB-7KQ2-M9XD-4TPA',
      update_id: '88121',
      updated_datetime: '2026-12-02T09:30:00+00:00',
      status: 'OPEN',
      description: 'Still not collected this morning.',
      email: 'resident@example.org',
      first_name: 'Pat',
      last_name: 'Resident'
    }
  ]
})
export type PostUpdateBody = Static<typeof PostUpdateBody>
