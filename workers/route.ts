import { Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { isTransientInfraError } from '../src/errors.js'
import type { HandOff } from '../src/delivery/hand-off.js'
import type { Infra } from '../src/infra.js'
import { queueName, type RouteJob } from '../src/jobs/queues.js'
import { RouteBatcher } from '../src/routing/route-batcher.js'
import { triageAfterFailure } from '../src/routing/triage-after-failure.js'

/**
 * case:route — places each new case with a council and team (src/routing). The worker takes
 * up to ROUTE_CONCURRENCY jobs at once and the batcher places those waiting together, a
 * batch at a time per ROUTE_BATCHES_IN_FLIGHT, in set-based statements. With `handOff`, the
 * deliveries a batch commits go straight to this process's delivery, with no job between.
 */
export function createRouteWorker(infra: Infra, connection: Redis, handOff?: HandOff): Worker<RouteJob> {
  const log = infra.log.child({ worker: 'case:route' })
  const batcher = new RouteBatcher(
    { db: infra.db, catalogue: infra.catalogue, queues: infra.queues, log, handOff },
    { maxInFlight: infra.config.ROUTE_BATCHES_IN_FLIGHT, maxBatch: infra.config.ROUTE_CONCURRENCY }
  )
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
