import type { Response } from 'undici'
import { signWebhook } from './signature.js'
import { classifyHttpStatus, type AttemptResult } from './outcome.js'
import { describeFailure, type OutboundClient } from './safe-fetch.js'

// What we read of a receiver's answer before hanging up: enough for any acknowledgement,
// so the connection can be reused, and no more, so a receiver that answers with a huge or
// endless body cannot hold a delivery worker or fill its memory.
const RESPONSE_READ_LIMIT = 64 * 1024

export interface WebhookTarget {
  url: string
  secret: string
}

/** POSTs the case as JSON, signed; any answer other than 2xx is a failure. */
export async function sendWebhook(outbound: OutboundClient, target: WebhookTarget, deliveryId: string, body: string, timeoutMs: number): Promise<AttemptResult> {
  const timestamp = Math.floor(Date.now() / 1000).toString()
  return postJson(outbound, target.url, {
    'user-agent': 'Switchboard-Delivery/1',
    'x-switchboard-delivery': deliveryId,
    'x-switchboard-timestamp': timestamp,
    'x-switchboard-signature': signWebhook(target.secret, timestamp, body)
  }, body, timeoutMs)
}

/**
 * One POST of a JSON body to a council system, through the outbound client (which refuses
 * addresses that are not public at connect time), never following a redirect. The result
 * is the status code's alone; a failure to connect or answer is told in a few words (the
 * raw error goes to `cause`, for operators' logs).
 */
export async function postJson(outbound: OutboundClient, url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<AttemptResult> {
  try {
    const res = await outbound.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs)
    })
    await discardBody(res)
    return classifyHttpStatus(res.status)
  } catch (err) {
    const failure = describeFailure(err)
    return { ok: false, permanent: failure.permanent, status: null, detail: failure.reason, cause: failure.cause }
  }
}

/**
 * Reads and drops at most RESPONSE_READ_LIMIT bytes of the answer, then cancels the rest.
 * The outcome is the status code's alone: a body that breaks off or outlasts the timeout
 * (the request's signal covers the body too) changes nothing.
 */
async function discardBody(res: Response): Promise<void> {
  if (!res.body) return
  const reader = res.body.getReader()
  try {
    for (let read = 0; read < RESPONSE_READ_LIMIT; ) {
      const chunk = await reader.read()
      if (chunk.done) return
      read += chunk.value.byteLength
    }
  } catch {
    // the answer's status is already known
  } finally {
    await reader.cancel().catch(() => undefined)
  }
}
