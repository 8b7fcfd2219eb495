import { Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { isTransientInfraError } from '../src/errors.js'
import type { HandOff } from '../src/delivery/hand-off.js'
import { enqueueLater, enqueueMany, type OutboxRow } from '../src/jobs/outbox-relay.js'
import type { Infra } from '../src/infra.js'
import { queueName, type RouteJob } from '../src/jobs/queues.js'
import { RouteBatcher } from '../src/routing/route-batcher.js'
import { triageAfterFailure } from '../src/routing/triage-after-failure.js'

/**
 * case:route — places each new case with a council and team (src/routing). The worker takes
 * up to ROUTE_CONCURRENCY jobs at once and the batcher places those waiting together, a
 * batch at a time per ROUTE_BATCHES_IN_FLIGHT, in set-based statements. With `handOff`, the
 * deliveries a batch commits go straight to this process's delivery, with no job between.
 * In the all-in-one process new cases reach the batcher without a job too (routeLocally).
 */
export function createRouteBatcher(infra: Infra, handOff?: HandOff): RouteBatcher {
  const log = infra.log.child({ worker: 'case:route' })
  return new RouteBatcher(
    { db: infra.db, catalogue: infra.catalogue, queues: infra.queues, log, handOff },
    { maxInFlight: infra.config.ROUTE_BATCHES_IN_FLIGHT, maxBatch: infra.config.ROUTE_CONCURRENCY, minGapMs: infra.config.ROUTE_BATCH_GAP_MS }
  )
}

/**
 * New cases handed over in this process (the all-in-one process's API, through
 * relayLocally), placed by the same batcher as the queue's jobs. What the batcher cannot
 * take now (more than `limit` held) goes to the queue instead, so memory stays bounded
 * under a burst; a case whose placing fails goes to the queue too, after a short wait, for
 * the job's attempts and, at the last, triage.
 */
export function routeLocally(infra: Infra, batcher: RouteBatcher, limit: number): (rows: OutboxRow[]) => void {
  const log = infra.log.child({ worker: 'case:route' })
  const toQueue = (rows: OutboxRow[]) =>
    enqueueMany(infra.queues, rows).catch((err: Error) => log.warn({ outboxIds: rows.map((r) => r.id), err: { message: err.message } }, 'enqueue failed; the outbox sweeper will retry'))
  return (rows) => {
    const overflow: OutboxRow[] = []
    for (const row of rows) {
      if (batcher.pending() >= limit) {
        overflow.push(row)
        continue
      }
      batcher.route({ caseId: Number(row.payload.case_id), outboxId: row.id }).catch((err: Error) => {
        log.debug({ caseId: Number(row.payload.case_id), err: { message: err.message } }, 'placing a case handed over failed; it goes to the queue')
        enqueueLater(infra.queues, row, RETRY_AFTER_MS).catch(() => {})
      })
    }
    if (overflow.length) void toQueue(overflow)
  }
}

/** How long a case whose placing failed in process waits before its queue job tries again. */
const RETRY_AFTER_MS = 500

export function createRouteWorker(infra: Infra, connection: Redis, batcher: RouteBatcher): Worker<RouteJob> {
  const log = infra.log.child({ worker: 'case:route' })
  return new Worker<RouteJob>(
    queueName('case:route'),
    async (job) => {
      try {
        const outcome = await batcher.route(job.data)
        log.debug({ caseId: job.data.caseId, outcome }, 'case placed')
        return outcome
      } catch (err) {
        const attempts = job.opts.attempts ?? 1
        // Postgres or Redis away is no reason to hand a case to a person: the job fails, and
        // the outbox sweeper brings it back once they are. Anything else, on the last
        // attempt, sends the case to triage with the error, never round again.
        if (job.attemptsMade + 1 < attempts || isTransientInfraError(err)) throw err
        const message = (err as Error).message ?? String(err)
        const moved = await triageAfterFailure(infra.db, job.data, attempts, message)
        log.error({ caseId: job.data.caseId, attempts, err: { message } }, moved ? 'routing failed on every attempt; case sent to triage' : 'routing failed on every attempt; case already placed')
        return 'triaged'
      }
    },
    { connection: connection as unknown as ConnectionOptions, prefix: infra.config.QUEUE_PREFIX, concurrency: infra.config.ROUTE_CONCURRENCY }
  )
}
