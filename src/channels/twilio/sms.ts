import Type, { type Static } from 'typebox'
import type { InboundContact } from '../../intake/inbound-contact.js'
import { twilioSenderPhone } from './numbers.js'
import { findPostcode, formatPostcode } from '../../lib/postcode.js'

const Sid = (prefix: string) => Type.String({ pattern: `^${prefix}[0-9a-fA-F]{32}$` })

/**
 * Twilio's messaging webhook, as far as we rely on it. Twilio adds parameters when it likes:
 * unknown ones are accepted (and were signed) and kept with the raw payload.
 */
export const TwilioSmsBody = Type.Object(
  {
    MessageSid: Type.Union([Sid('SM'), Sid('MM')]),
    AccountSid: Sid('AC'),
    From: Type.String({ minLength: 1, maxLength: 64 }),
    To: Type.String({ minLength: 1, maxLength: 64 }),
    Body: Type.Optional(Type.String({ maxLength: 4_800 })),
    NumMedia: Type.Optional(Type.String({ pattern: '^[0-9]{1,2}$' })),
    OptOutType: Type.Optional(Type.String({ maxLength: 16 }))
  },
  { additionalProperties: true }
)
export type TwilioSmsBody = Static<typeof TwilioSmsBody> & Record<string, unknown>

/** Twilio's status callback for a message we sent. */
export const TwilioSmsStatusBody = Type.Object(
  {
    MessageSid: Type.Union([Sid('SM'), Sid('MM')]),
    MessageStatus: Type.String({ pattern: '^[a-z_]{1,32}$' }),
    ErrorCode: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' }))
  },
  { additionalProperties: true }
)

/** Twilio lists at most ten media per message. */
const MAX_MEDIA = 10

/**
 * A text as intake takes it. The sender's number, when it is a real phone number, is a
 * verified contact point: Twilio signed the request, and Twilio only relays what the
 * network says. A short code, an alphanumeric sender or a withheld number is kept raw
 * and never treated as anybody's phone. A full postcode in the text is used for routing.
 */
export function smsToInboundContact(body: TwilioSmsBody, threadWindowHours: number): InboundContact {
  const phone = twilioSenderPhone(body.From)
  const text = body.Body ?? ''
  const postcode = findPostcode(text)
  const media: { url: string; contentType: string }[] = []
  const count = Math.min(Number(body.NumMedia ?? 0), MAX_MEDIA)
  for (let i = 0; i < count; i++) {
    const url = body[`MediaUrl${i}`]
    const contentType = body[`MediaContentType${i}`]
    if (typeof url === 'string' && url) media.push({ url, contentType: typeof contentType === 'string' ? contentType : 'application/octet-stream' })
  }
  return {
    channel: 'sms',
    provider: 'twilio',
    providerMessageId: body.MessageSid,
    rawPayload: body,
    // Twilio never reuses a MessageSid for another text: no payload hash to compare replays by
    payloadHash: null,
    sender: { name: null, email: null, phone, raw: body.From, ...(phone ? { verified: { phone: true } } : {}) },
    recipient: body.To.trim(),
    text,
    location: { postcode: postcode ? formatPostcode(postcode) : null, lat: null, lng: null },
    serviceCode: null,
    councilGss: null,
    threadReference: null,
    ...(threadWindowHours > 0 ? { threadWindowSecs: threadWindowHours * 3600 } : {}),
    media
  }
}
