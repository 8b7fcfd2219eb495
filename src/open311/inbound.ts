import { createHash, randomUUID } from 'node:crypto'
import type { ApiKeyGrant } from '../councils/api-keys.js'
import type { ExternalReport, InboundContact } from '../intake/inbound-contact.js'
import { gridToLatLng } from '../lib/british-grid.js'
import { normaliseEmail, normalisePhone } from '../lib/contact-points.js'
import { findPostcode, formatPostcode } from '../lib/postcode.js'
import { normaliseUprn, normaliseUsrn } from '../lib/uk-identifiers.js'
import type { Catalogue } from '../catalogue/catalogue.js'
import { Open311Error } from './format.js'
import type { PostRequestBody } from './schemas.js'
import { attributesGiven, checkAttributes } from './service-definitions.js'

// What FixMyStreet sends as address_id when the reporter placed no pin.
const NOT_PINPOINTED = '#NOTPINPOINTED#'
// Great Britain and Northern Ireland with their islands, generously (as the web channel).
const UK = { minLat: 49.8, maxLat: 60.95, minLng: -8.7, maxLng: 1.8 }
// How much of one free-text field a case keeps. FixMyStreet sends reports as long as its
// users write them; a longer one is cut with a note rather than refused, and the whole
// form stays in the raw record.
export const KEEP_CHARS = 20_000

/**
 * What FixMyStreet (and clients built like it) send about their own report, as attributes
 * (`attribute[report_url]`) or, from some clients, as plain fields. None is a question a
 * service asks: they are kept on the case, not listed in a service definition.
 */
const REPORT_FIELDS = ['fixmystreet_id', 'title', 'report_url', 'closest_address', 'easting', 'northing', 'description', 'uprn', 'usrn'] as const
type ReportField = (typeof REPORT_FIELDS)[number]

const text = (v: unknown) => (typeof v === 'string' ? v.trim() || null : null)
const lf = (v: string) => v.replace(/\r\n?/g, '\n')

/** A free-text value cut to KEEP_CHARS, with a note saying so. */
export function kept(value: string): string {
  if (value.length <= KEEP_CHARS) return value
  return `${value.slice(0, KEEP_CHARS)}\n[cut: ${value.length.toLocaleString('en-GB')} characters were sent; the first ${KEEP_CHARS.toLocaleString('en-GB')} are shown, and the whole report is kept as received]`
}

/** The first value given for one of REPORT_FIELDS: `attribute[name]`, else the plain field. */
function reportField(body: PostRequestBody, given: Map<string, string[]>, name: ReportField): string | null {
  return given.get(name)?.[0] ?? text(body[name])
}

/**
 * Turns an Open311 POST /requests form into the normalised contact every channel hands to
 * intake: the jurisdiction is the council named, the service the one chosen, the sender's
 * email and phone claims (an Open311 client vouches for nobody), the answers to the
 * service's questions written into the text so the back office reads them.
 *
 * A report is never refused for a detail a person typed: a phone or email that does not
 * parse is kept as written, in the text, as an unchecked claim; an over-long text is cut
 * with a note. Refused are only what would misfile it: an unknown service, a required
 * answer missing, a point outside the UK.
 */
export function open311Contact(body: PostRequestBody, jurisdiction: string, key: ApiKeyGrant, cat: Catalogue): InboundContact {
  const serviceCode = body.service_code.trim()
  const service = cat.services.get(serviceCode)
  if (!service) throw new Open311Error(404, 'No service has this service_code')
  const given = attributesGiven(body)
  const { words } = checkAttributes(serviceCode, given)
  const field = (name: ReportField) => reportField(body, given, name)

  const typedEmail = text(body.email)
  const email = typedEmail ? normaliseEmail(typedEmail) : null
  const typedPhone = text(body.phone)
  const phone = typedPhone ? normalisePhone(typedPhone) : null

  const where = placeOf(body, field)
  const address = text(body.address_string)?.replace(/\s*[\r\n]+\s*/g, ', ') ?? null
  const addressId = text(body.address_id)
  const pinned = addressId !== null && addressId !== NOT_PINPOINTED
  const closest = field('closest_address')
  if (service.needsLocation && where.lat === null && !address && !pinned && !closest) {
    throw new Open311Error(400, `${serviceCode} needs a location: lat and long, address_string, address_id, or easting and northing`)
  }
  const postcode = findPostcode([address, closest].filter(Boolean).join('\n'))

  const uprnGiven = field('uprn')
  const usrnGiven = field('usrn')
  const uprn = uprnGiven ? normaliseUprn(uprnGiven) : null
  const usrn = usrnGiven ? normaliseUsrn(usrnGiven) : null

  // FixMyStreet's own description ends "url: <report page>\n\nSubmitted via FixMyStreet"
  // when its council sends no report_url attribute: the page, and its id, are read from it
  const rawDescription = body.description ?? ''
  const urlInText = /^url: (https?:\/\/\S+)\s*$/m.exec(rawDescription)?.[1] ?? null
  const url = field('report_url') ?? urlInText
  const id = field('fixmystreet_id') ?? (url ? (/\/report\/([0-9]+)\b/.exec(url)?.[1] ?? null) : null)
  // a headline is one line, whatever was typed into it
  const title = field('title')?.replace(/\s+/g, ' ') ?? null
  const fromFixMyStreet = Boolean(field('fixmystreet_id')) || /fixmystreet/i.test(url ?? '') || /^Submitted via FixMyStreet\s*$/m.test(rawDescription)
  const report: ExternalReport = { client: fromFixMyStreet ? 'fixmystreet' : 'open311' }
  if (id) report.id = id.slice(0, 100)
  if (url && /^https?:\/\/\S+$/i.test(url)) report.url = url.slice(0, 2000)
  if (title) report.title = title.slice(0, 500)
  if (closest) report.closest_address = kept(lf(closest))
  if (where.grid) Object.assign(report, where.grid)
  const hasReport = Object.keys(report).length > 1

  const description = kept(lf(rawDescription).trim())
  const longer = field('description')
  const lines = [
    // FixMyStreet's title is the report's headline; its description often repeats it
    title && !description.includes(title) ? `Title: ${title}` : null,
    description,
    // some FixMyStreet set-ups send the full report text as attribute[description]
    longer && !description.includes(lf(longer).trim().slice(0, 200)) ? kept(lf(longer).trim()) : null,
    ...words.map((w) => kept(lf(w))),
    address ? `Address: ${address}` : null,
    pinned ? `Address id: ${addressId}` : null,
    closest && !address ? `Closest address: ${kept(lf(closest))}` : null,
    uprnGiven ? (uprn ? `Property (UPRN): ${uprn}` : `Property reference as given (not a UPRN): ${uprnGiven.slice(0, 100)}`) : null,
    usrnGiven ? (usrn ? `Street (USRN): ${usrn}` : `Street reference as given (not a USRN): ${usrnGiven.slice(0, 100)}`) : null,
    report.id || report.url ? `${report.client === 'fixmystreet' ? 'FixMyStreet report' : 'Report'}${report.id ? ` ${report.id}` : ''}${report.url ? `: ${report.url}` : ''}` : null,
    // kept as typed: the person gave them, and a council can still read them
    typedPhone && !phone ? `Phone as given (not checked): ${typedPhone.slice(0, 100)}` : null,
    typedEmail && !email ? `Email as given (not checked): ${typedEmail.slice(0, 254)}` : null,
    text(body.media_url) ? `Photo: ${body.media_url!.trim()}` : null
  ].filter((l): l is string => Boolean(l))

  // the key is a secret: it is not kept with the payload
  const { api_key: _key, ...payload } = body
  const name = [text(body.first_name), text(body.last_name)].filter(Boolean).join(' ').slice(0, 200) || null
  return {
    channel: 'open311',
    provider: `open311:${key.id}`,
    providerMessageId: randomUUID(),
    rawPayload: payload,
    payloadHash: createHash('sha256').update(JSON.stringify(payload)).digest('hex'),
    sender: { name, email, phone, raw: email ?? phone ?? typedEmail ?? typedPhone, verified: { email: false, phone: false } },
    recipient: null,
    text: lines.join('\n'),
    location: { postcode: postcode ? formatPostcode(postcode) : null, lat: where.lat, lng: where.lng },
    serviceCode,
    councilGss: jurisdiction,
    threadReference: null,
    uprn,
    usrn,
    externalReport: hasReport ? report : null
  }
}

/**
 * Where the report is: lat and long when given (WGS84, as the standard has it), else the
 * British National Grid easting and northing FixMyStreet also sends, converted. A
 * FixMyStreet report without a pin (address_id #NOTPINPOINTED#) may come with only those.
 */
function placeOf(body: PostRequestBody, field: (name: ReportField) => string | null): { lat: number | null; lng: number | null; grid: { easting: number; northing: number } | null } {
  const easting = field('easting')
  const northing = field('northing')
  const grid = easting !== null && northing !== null && /^-?[0-9]+(\.[0-9]+)?$/.test(easting) && /^-?[0-9]+(\.[0-9]+)?$/.test(northing) ? { easting: Number(easting), northing: Number(northing) } : null

  const lat = text(body.lat) === null ? null : Number(body.lat)
  const lng = text(body.long) === null ? null : Number(body.long)
  if ((lat === null) !== (lng === null)) throw new Open311Error(400, 'Give both lat and long, or neither')
  if (lat !== null && lng !== null) {
    if (lat < UK.minLat || lat > UK.maxLat || lng < UK.minLng || lng > UK.maxLng) throw new Open311Error(400, 'lat and long are outside the United Kingdom')
    return { lat, lng, grid }
  }
  if (grid) {
    const point = gridToLatLng(grid.easting, grid.northing)
    if (!point) throw new Open311Error(400, 'easting and northing are not on the British National Grid')
    return { ...point, grid }
  }
  return { lat: null, lng: null, grid: null }
}
