import { createHash, randomUUID } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { AppError } from '../../errors.js'
import { idempotencyId } from '../../intake/idempotency.js'
import type { InboundContact } from '../../intake/inbound-contact.js'
import { CaseReference } from '../../intake/reference.js'
import { normaliseEmail, normalisePhone } from '../../lib/contact-points.js'
import { formatPostcode, parsePostcode } from '../../lib/postcode.js'
import { MultiLine, SingleLine, describedPattern } from '../../lib/schema.js'
import { normaliseUprn, normaliseUsrn } from '../../lib/uk-identifiers.js'
import type { Catalogue } from '../../catalogue/catalogue.js'

export const WebContactBody = Type.Object(
  {
    name: Type.Optional(SingleLine({ maxLength: 200, description: "The resident's name" })),
    email: Type.Optional(SingleLine({ maxLength: 254, description: 'Email address to reply to' })),
    phone: Type.Optional(SingleLine({ maxLength: 40, description: 'UK or international phone number' })),
    postcode: Type.Optional(SingleLine({ maxLength: 16, description: 'Full postcode, or an outcode such as LE10' })),
    uprn: Type.Optional(SingleLine({ maxLength: 20, description: 'Unique Property Reference Number of the property it is about (up to 12 digits), from an address lookup' })),
    usrn: Type.Optional(SingleLine({ maxLength: 20, description: 'Unique Street Reference Number of the street it is about (up to 8 digits)' })),
    lat: Type.Optional(Type.Number({ minimum: -90, maximum: 90 })),
    long: Type.Optional(Type.Number({ minimum: -180, maximum: 180 })),
    service_code: Type.Optional(SingleLine({ maxLength: 64, description: 'A code from the service catalogue; omit to classify the description' })),
    description: Type.Optional(MultiLine({ maxLength: 4000, description: "The resident's own words; tabs and line breaks are kept" })),
    // the GSS pattern admits no control character either
    council: Type.Optional(Type.String({ pattern: describedPattern('^[EWSN][0-9]{8}$', 'must be an ONS GSS code such as E09000033'), description: 'ONS GSS code of the council the resident chose' })),
    reference: Type.Optional(CaseReference({ description: "Add this message to the resident's own open case" }))
  },
  { additionalProperties: false }
)
export type WebContactBody = Static<typeof WebContactBody>

// Great Britain and Northern Ireland with their islands, generously.
const UK = { minLat: 49.8, maxLat: 60.95, minLng: -8.7, maxLng: 1.8 }

/**
 * Checks what the schema cannot (a real postcode, a known service, a phone number that
 * exists) and turns the web form into the normalised contact intake takes. Each refusal
 * names the field at fault.
 */
export function toInboundContact(body: WebContactBody, idempotency: { key: string; apiKey: string | null } | null, cat: Catalogue): InboundContact {
  const email = body.email?.trim() ? normaliseEmail(body.email) : null
  const phone = body.phone?.trim() ? normalisePhone(body.phone) : null
  if (!body.email?.trim() && !body.phone?.trim()) throw new AppError('contact_required', { field: 'email' })
  if (body.email?.trim() && !email) throw new AppError('invalid_email', { field: 'email' })
  if (body.phone?.trim() && !phone) throw new AppError('invalid_phone', { field: 'phone' })

  // one kind of line break in storage, whichever a browser or client sent (a textarea
  // submits CRLF); the raw payload keeps what was sent
  const description = body.description?.replace(/\r\n?/g, '\n').trim() ?? ''
  const serviceCode = body.service_code?.trim() || null
  if (!description && !serviceCode) throw new AppError('description_required', { field: 'description' })
  if (serviceCode && !cat.services.has(serviceCode)) throw new AppError('unknown_service_code', { field: 'service_code' })

  let postcode: string | null = null
  if (body.postcode?.trim()) {
    const parsed = parsePostcode(body.postcode)
    if (!parsed) throw new AppError('invalid_postcode', { field: 'postcode' })
    postcode = formatPostcode(parsed)
  }
  if ((body.lat === undefined) !== (body.long === undefined)) {
    throw new AppError('incomplete_location', { field: body.lat === undefined ? 'lat' : 'long' })
  }
  if (body.lat !== undefined && body.long !== undefined) {
    if (body.lat < UK.minLat || body.lat > UK.maxLat) throw new AppError('location_outside_uk', { field: 'lat' })
    if (body.long < UK.minLng || body.long > UK.maxLng) throw new AppError('location_outside_uk', { field: 'long' })
  }
  if (body.council && !cat.councils.has(body.council)) throw new AppError('unknown_council', { field: 'council' })
  const uprn = body.uprn?.trim() ? normaliseUprn(body.uprn) : null
  if (body.uprn?.trim() && !uprn) throw new AppError('invalid_uprn', { field: 'uprn' })
  const usrn = body.usrn?.trim() ? normaliseUsrn(body.usrn) : null
  if (body.usrn?.trim() && !usrn) throw new AppError('invalid_usrn', { field: 'usrn' })

  return {
    channel: 'web',
    provider: 'web',
    // without a key every submission is new; with one, a retry from the same sender is recognised
    providerMessageId: idempotency ? idempotencyId(idempotency.key, { apiKey: idempotency.apiKey, email, phone }) : `auto:${randomUUID()}`,
    rawPayload: body,
    payloadHash: createHash('sha256').update(JSON.stringify(body)).digest('hex'),
    sender: { name: body.name?.trim() || null, email, phone, raw: email ?? phone },
    recipient: null,
    text: description,
    location: { postcode, lat: body.lat ?? null, lng: body.long ?? null },
    serviceCode,
    councilGss: body.council ?? null,
    threadReference: body.reference?.trim().toUpperCase() || null,
    uprn,
    usrn
  }
}
