import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * X-Switchboard-Signature: hex HMAC-SHA256 over `${timestamp}.${body}` with the
 * destination's secret. The timestamp is signed too, so a receiver can refuse old replays.
 */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
}

/** What a receiver does: recompute and compare in constant time. */
export function verifyWebhook(secret: string, timestamp: string, body: string, signature: string): boolean {
  const expected = Buffer.from(signWebhook(secret, timestamp, body), 'hex')
  const given = Buffer.from(signature, 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected)
}
