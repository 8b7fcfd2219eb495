/** The result of one attempt to hand a case over. */
export interface AttemptResult {
  ok: boolean
  /** a failure that retrying will not fix (a 4xx other than 408/429, a refused mailbox) */
  permanent: boolean
  /**
   * with ok: nothing was sent, the demo mail transport (no SMTP_URL) kept the message. The
   * delivery is settled without being counted as delivered, so nobody is told the council has it.
   */
  kept?: boolean
  status: number | null
  /** for the delivery record and the audit trail (a council may read it): our own short words, never case content or a raw socket error */
  detail: string
  /** for operators' logs only: the raw error behind a failed connection (never a URL) */
  cause?: string
}

/** 2xx delivers; 408 and 429 are worth retrying like 5xx; any other 4xx will not get better. */
export function classifyHttpStatus(status: number): AttemptResult {
  if (status >= 200 && status < 300) return { ok: true, permanent: false, status, detail: `HTTP ${status}` }
  const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429
  return { ok: false, permanent, status, detail: `HTTP ${status}` }
}

/**
 * What an attempt's result makes of the thing sent (a delivery, a council's webhook event, an
 * erasure notice): delivered, kept by the demo transport, dead-lettered (a permanent failure,
 * or the last of `maxAttempts`), or to be tried again.
 */
export function settleAs(result: AttemptResult, attempts: number, maxAttempts: number): 'delivered' | 'kept' | 'dead' | 'retrying' {
  if (result.ok) return result.kept ? 'kept' : 'delivered'
  return result.permanent || attempts >= maxAttempts ? 'dead' : 'retrying'
}
