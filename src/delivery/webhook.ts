import { signWebhook } from './signature.js'
import { classifyHttpStatus, type AttemptResult } from './outcome.js'

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
    // drain the body so the connection can be reused; its content is not ours to keep
    await res.arrayBuffer().catch(() => undefined)
    return classifyHttpStatus(res.status)
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } }
    const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message)
    return { ok: false, permanent: false, status: null, detail: `request failed: ${reason}` }
  }
}
