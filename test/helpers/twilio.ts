import { randomBytes } from 'node:crypto'
import twilio from 'twilio'
import type { TestContext } from './context.js'

export const TWILIO_TOKEN = 'twilio-test-auth-token-0123456789ab'
export const ACCOUNT_SID = `AC${'0'.repeat(32)}`

/** A fresh Twilio message sid (SM + 32 hex). */
export const messageSid = () => `SM${randomBytes(16).toString('hex')}`

/** The params Twilio posts for a plain text, with `over` added or replacing. */
export function smsParams(over: Record<string, string | string[]>): Record<string, string | string[]> {
  const sid = messageSid()
  return {
    ToCountry: 'GB',
    SmsMessageSid: sid,
    NumMedia: '0',
    SmsSid: sid,
    SmsStatus: 'received',
    Body: '',
    FromCountry: 'GB',
    NumSegments: '1',
    MessageSid: sid,
    AccountSid: ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    ...over
  }
}

/** A fresh Twilio call sid (CA + 32 hex). */
export const callSid = () => `CA${randomBytes(16).toString('hex')}`

/** A fresh Twilio recording sid (RE + 32 hex). */
export const recordingSid = () => `RE${randomBytes(16).toString('hex')}`

/** The params Twilio posts to a voice webhook for an inbound call, with `over` added or replacing. */
export function voiceParams(over: Record<string, string | string[]>): Record<string, string | string[]> {
  return {
    CallSid: callSid(),
    AccountSid: ACCOUNT_SID,
    From: '+447911123450',
    To: '+447700900100',
    CallStatus: 'in-progress',
    Direction: 'inbound',
    ApiVersion: '2010-04-01',
    ...over
  }
}

/** The form body, keys repeated for array values, as Twilio encodes it. */
export function formBody(params: Record<string, string | string[]>): string {
  const form = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one)
  return form.toString()
}

/**
 * POSTs to a Twilio route signed exactly as Twilio signs it: HMAC-SHA1 over the public URL
 * and every parameter, with the twilio package's own function. `body` (if given) replaces
 * the signed form, to send something other than what was signed.
 */
export function postTwilio(
  ctx: TestContext,
  path: string,
  params: Record<string, string | string[]>,
  opts: { token?: string | null; body?: string; contentType?: string } = {}
) {
  const token = opts.token === undefined ? TWILIO_TOKEN : opts.token
  const url = `${ctx.config.PUBLIC_BASE_URL}${path}`
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/x-www-form-urlencoded' }
  if (token !== null) headers['x-twilio-signature'] = twilio.getExpectedTwilioSignature(token, url, params)
  return ctx.app.inject({ method: 'POST', url: path, headers, payload: opts.body ?? formBody(params) })
}
