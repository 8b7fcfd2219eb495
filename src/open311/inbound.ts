import { createHash, randomUUID } from 'node:crypto'
import type { ApiKeyGrant } from '../councils/api-keys.js'
import type { InboundContact } from '../intake/inbound-contact.js'
import { normaliseEmail, normalisePhone } from '../lib/contact-points.js'
import { findPostcode, formatPostcode } from '../lib/postcode.js'
import type { Catalogue } from '../routing/catalogue.js'
import { Open311Error } from './format.js'
import type { PostRequestBody } from './schemas.js'
import { attributesGiven, checkAttributes } from './service-definitions.js'

// What FixMyStreet sends as address_id when the reporter placed no pin.
const NOT_PINPOINTED = '#NOTPINPOINTED#'
// Great Britain and Northern Ireland with their islands, generously (as the web channel).
const UK = { minLat: 49.8, maxLat: 60.95, minLng: -8.7, maxLng: 1.8 }

const text = (v: string | undefined) => v?.trim() || null

/**
 * Turns an Open311 POST /requests form into the normalised contact every channel hands to
 * intake: the jurisdiction is the council named, the service the one chosen, the sender's
 * email and phone claims (an Open311 client vouches for nobody), the answers to the
 * service's questions written into the text so the back office reads them.
 */
export function open311Contact(body: PostRequestBody, jurisdiction: string, key: ApiKeyGrant, cat: Catalogue): InboundContact {
  const serviceCode = body.service_code.trim()
  const service = cat.services.get(serviceCode)
  if (!service) throw new Open311Error(404, 'No service has this service_code')
  const { words } = checkAttributes(serviceCode, attributesGiven(body))

  const email = text(body.email) ? normaliseEmail(body.email!) : null
  if (text(body.email) && !email) throw new Open311Error(400, 'email is not a valid email address')
  const phone = text(body.phone) ? normalisePhone(body.phone!) : null
  if (text(body.phone) && !phone) throw new Open311Error(400, 'phone is not a valid UK or international number')

  const lat = text(body.lat) === null ? null : Number(body.lat)
  const lng = text(body.long) === null ? null : Number(body.long)
  if ((lat === null) !== (lng === null)) throw new Open311Error(400, 'Give both lat and long, or neither')
  if (lat !== null && lng !== null && (lat < UK.minLat || lat > UK.maxLat || lng < UK.minLng || lng > UK.maxLng)) {
    throw new Open311Error(400, 'lat and long are outside the United Kingdom')
  }
  const address = text(body.address_string)
  const addressId = text(body.address_id)
  const pinned = addressId !== null && addressId !== NOT_PINPOINTED
  if (service.needsLocation && lat === null && !address && addressId === null) {
    throw new Open311Error(400, `${serviceCode} needs a location: lat and long, address_string or address_id`)
  }
  const postcode = address ? findPostcode(address) : null

  const description = body.description?.replace(/\r\n?/g, '\n').trim() ?? ''
  const lines = [
    description,
    ...words,
    address ? `Address: ${address}` : null,
    pinned ? `Address id: ${addressId}` : null,
    text(body.media_url) ? `Photo: ${body.media_url!.trim()}` : null
  ].filter((l): l is string => Boolean(l))

  // the key is a secret: it is not kept with the payload
  const { api_key: _key, ...payload } = body
  const name = [text(body.first_name), text(body.last_name)].filter(Boolean).join(' ') || null
  return {
    channel: 'open311',
    provider: `open311:${key.id}`,
    providerMessageId: randomUUID(),
    rawPayload: payload,
    payloadHash: createHash('sha256').update(JSON.stringify(payload)).digest('hex'),
    sender: { name, email, phone, raw: email ?? phone, verified: { email: false, phone: false } },
    recipient: null,
    text: lines.join('\n'),
    location: { postcode: postcode ? formatPostcode(postcode) : null, lat, lng },
    serviceCode,
    councilGss: jurisdiction,
    threadReference: null
  }
}
