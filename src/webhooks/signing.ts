import { createHmac, randomBytes } from 'node:crypto'
import { signWebhook } from '../delivery/signature.js'

/**
 * A subscription's secret in the Standard Webhooks format: `whsec_` and the base64 of 24
 * random bytes, so a council can hand it as is to that standard's ready-made libraries.
 */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`
}

/** The key Standard Webhooks signs with: the base64-decoded part after `whsec_`. */
function standardKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64')
}

/**
 * `v1,` and the base64 HMAC-SHA256 over `${id}.${timestamp}.${body}`: the Standard
 * Webhooks `webhook-signature` header (https://www.standardwebhooks.com/).
 */
export function standardSignature(secret: string, id: string, timestamp: string, body: string): string {
  return `v1,${createHmac('sha256', standardKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

/**
 * Every header that signs one event: ours, as the delivery worker sends them (so a council
 * already checking case deliveries checks these the same way), and the Standard Webhooks
 * ones. Both sign the same timestamp.
 */
export function webhookHeaders(secret: string, eventId: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000).toString()
  return {
    'x-switchboard-delivery': eventId,
    'x-switchboard-timestamp': timestamp,
    'x-switchboard-signature': signWebhook(secret, timestamp, body),
    'webhook-id': eventId,
    'webhook-timestamp': timestamp,
    'webhook-signature': standardSignature(secret, eventId, timestamp, body)
  }
}
