import { timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import twilio from 'twilio'
import { AppError } from '../../errors.js'

/**
 * Whether a webhook request carries Twilio's signature (X-Twilio-Signature) for one of the
 * account's tokens. The URL is the one Twilio called: our public base URL (as configured;
 * behind a TLS-terminating proxy the URL this process sees is not the one Twilio signed)
 * plus the raw path and query exactly as received. Every form parameter is signed,
 * including ones this code does not know. Two tokens so the token can be rotated with no
 * downtime: requests signed with either pass.
 */
export function isSignedByTwilio(req: FastifyRequest, publicBaseUrl: string, tokens: readonly string[]): boolean {
  const signature = req.headers['x-twilio-signature']
  if (typeof signature !== 'string' || signature === '' || tokens.length === 0) return false
  const url = `${publicBaseUrl}${req.raw.url ?? req.url}`
  const params = (req.body ?? {}) as Record<string, unknown>
  const given = Buffer.from(signature)
  // The URL exactly as configured is what Twilio signs when PUBLIC_BASE_URL is right: one
  // HMAC per token. Only if none matches, the library's own check, which also tries the
  // URL with and without its port and as normalised (up to four more HMACs each).
  const exact = tokens.some((token) => {
    const expected = Buffer.from(twilio.getExpectedTwilioSignature(token, url, params))
    return expected.length === given.length && timingSafeEqual(expected, given)
  })
  return exact || tokens.some((token) => twilio.validateRequest(token, signature, url, params))
}

/**
 * The preValidation hook that admits a Twilio webhook by its signature alone, before its
 * parameters are validated: an unsigned request learns nothing. Nothing of the content is
 * logged; a forged request is only refused (403 through the plugin's error handler).
 */
export function requireTwilioSignature(publicBaseUrl: string, tokens: readonly string[]) {
  return async (req: FastifyRequest): Promise<void> => {
    if (!isSignedByTwilio(req, publicBaseUrl, tokens)) throw new AppError('not_signed_by_twilio')
  }
}
