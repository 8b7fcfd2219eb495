import { Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Infra } from '../src/infra.js'
import { queueName, type RouteJob } from '../src/jobs/queues.js'
import { routeCase } from '../src/routing/route-case.js'

/** case:route — places each new case with a council and team (src/routing). */
export function createRouteWorker(infra: Infra, connection: Redis): Worker<RouteJob> {
  const log = infra.log.child({ worker: 'case:route' })
  return new Worker<RouteJob>(
    queueName('case:route'),
    async (job) => {
      const outcome = await routeCase({ db: infra.db, catalogue: infra.catalogue, queues: infra.queues, log }, job.data)
      log.debug({ caseId: job.data.caseId, outcome }, 'case placed')
      return outcome
    },
    { connection: connection as unknown as ConnectionOptions, prefix: infra.config.QUEUE_PREFIX, concurrency: infra.config.ROUTE_CONCURRENCY }
  )
}
