import { signWebhook } from './signature.js'
import { classifyHttpStatus, type AttemptResult } from './outcome.js'

// What we read of a receiver's answer before hanging up: enough for any acknowledgement,
// so the connection can be reused, and no more, so a receiver that answers with a huge or
// endless body cannot hold a delivery worker or fill its memory.
const RESPONSE_READ_LIMIT = 64 * 1024

export interface WebhookTarget {
  url: string
  secret: string
}

/** POSTs the case as JSON, signed; any answer other than 2xx is a failure. */
export async function sendWebhook(target: WebhookTarget, deliveryId: string, body: string, timeoutMs: number): Promise<AttemptResult> {
  const timestamp = Math.floor(Date.now() / 1000).toString()
  try {
    const res = await fetch(target.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Switchboard-Delivery/1',
        'x-switchboard-delivery': deliveryId,
        'x-switchboard-timestamp': timestamp,
        'x-switchboard-signature': signWebhook(target.secret, timestamp, body)
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs)
    })
    await discardBody(res)
    return classifyHttpStatus(res.status)
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } }
    const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message)
    return { ok: false, permanent: false, status: null, detail: `request failed: ${reason}` }
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
