import { UnrecoverableError } from 'bullmq'
import type { Db } from '../db/pool.js'
import { markOutboxDone } from '../jobs/outbox-relay.js'
import type { Log } from '../logger.js'
import { settleAs, type AttemptResult } from './outcome.js'

/** One kind of thing sent one job at a time: how to claim it, send it and record what came of it. */
export interface SentOneAtATime<T extends { attempts: number }> {
  /** for logs and errors: 'webhook event', 'erasure notice' */
  what: string
  /** its table, which has id, last_status and last_error (a constant of the sender's, never input) */
  table: 'webhook_events' | 'erasure_notices'
  /** counts an attempt on it and reads what to send, if it is still to be sent */
  claim(): Promise<T | undefined>
  /** whether it exists at all (when the claim found nothing) */
  exists(): Promise<boolean>
  attempt(item: T): Promise<AttemptResult>
  /** records it settled, with its outbox row done, in one statement */
  settle(item: T, outcome: 'delivered' | 'dead', result: AttemptResult): Promise<void>
  /** its row id, its public id and what to log with it */
  describe(item: T): { rowId: number; id: string; context: Record<string, unknown> }
}

/**
 * Sends one thing to a council system, as a case's delivery is sent, for the senders that
 * take one job at a time (council webhook events, erasure notices; deliveries go in sets,
 * src/delivery/delivery-batcher.ts). The attempt is counted before it is made; nothing
 * claimed means it was settled already (a duplicate job: its outbox row is marked done) or
 * is gone. A success settles it; a failure to retry throws for BullMQ to retry with backoff;
 * a permanent failure or the last attempt dead-letters it and throws UnrecoverableError.
 * The demo mail transport's keeping counts as sent: the result's detail says so.
 */
export async function sendOne<T extends { attempts: number }>(
  deps: { db: Db; log: Log; maxAttempts: number },
  outboxId: number,
  s: SentOneAtATime<T>
): Promise<'delivered' | 'already_settled' | 'missing'> {
  const item = await s.claim()
  if (!item) {
    const exists = await s.exists()
    await markOutboxDone(deps.db, outboxId)
    return exists ? 'already_settled' : 'missing'
  }
  const { rowId, id, context } = s.describe(item)
  const result = await s.attempt(item)
  const settled = settleAs(result, item.attempts, deps.maxAttempts)
  const outcome = settled === 'kept' ? 'delivered' : settled
  // to be tried again: why it failed, and the outbox row stays pending for the job's retry
  if (outcome === 'retrying') await deps.db.query(`update ${s.table} set last_status = $2, last_error = $3 where id = $1`, [rowId, result.status, result.detail])
  else await s.settle(item, outcome, result)
  if (outcome === 'delivered') {
    deps.log.info(context, `${s.what} delivered`)
    return 'delivered'
  }
  if (outcome === 'dead') {
    deps.log.warn({ ...context, detail: result.detail, cause: result.cause }, `${s.what} dead-lettered`)
    throw new UnrecoverableError(`${s.what} ${id} dead-lettered: ${result.detail}`)
  }
  deps.log.info({ ...context, detail: result.detail, cause: result.cause }, `${s.what} attempt failed; will retry`)
  throw new Error(`${s.what} attempt ${item.attempts} failed: ${result.detail}`)
}
