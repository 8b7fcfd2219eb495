import { DelayedError, Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Transporter } from 'nodemailer'
import { DeliveryBatcher } from '../src/delivery/delivery-batcher.js'
import { deliverySettings } from '../src/delivery/deliver-case.js'
import type { Infra } from '../src/infra.js'
import { queueName, type DeliverJob } from '../src/jobs/queues.js'

/** A job whose destination already holds its share of the worker waits this long in the queue. */
const DEFER_MS = 1_000

/**
 * case:deliver — hands routed cases to council systems (src/delivery). A case's first
 * attempt comes straight from the route worker, with no job; this worker takes the rest:
 * retries after a backoff, deliveries deferred while their council had its share, those
 * the outbox sweeper brings back, and an operator's retries. It takes up to
 * DELIVERY_CONCURRENCY jobs at once; the batcher claims and records them in sets and sends
 * at most DELIVERY_PER_DESTINATION at a time to any one council system.
 */
/**
 * The process's one delivery batcher, shared by the case:deliver worker and by the route
 * worker, which hands it the deliveries it has just committed (src/delivery/hand-off.ts).
 */
export function createDeliveryBatcher(infra: Infra, mail: Transporter): DeliveryBatcher {
  const log = infra.log.child({ worker: 'case:deliver' })
  const settings = deliverySettings(infra.config)
  const concurrency = infra.config.DELIVERY_CONCURRENCY
  const perDestination = infra.config.DELIVERY_PER_DESTINATION
  return new DeliveryBatcher(
    { db: infra.db, mail, log, settings },
    // a slow council never holds more than half the worker's jobs: the rest serve the others
    { perDestination, perDestinationHeld: Math.max(perDestination, Math.floor(concurrency / 2)) }
  )
}

export function createDeliverWorker(infra: Infra, connection: Redis, batcher: DeliveryBatcher): Worker<DeliverJob> {
  const concurrency = infra.config.DELIVERY_CONCURRENCY
  return new Worker<DeliverJob>(
    queueName('case:deliver'),
    async (job, token) => {
      const outcome = await batcher.deliver(job.data)
      if (outcome === 'deferred') {
        // back in the queue for a moment, no attempt used: its council already has its share
        await job.moveToDelayed(Date.now() + DEFER_MS, token)
        throw new DelayedError()
      }
      return outcome
    },
    { connection: connection as unknown as ConnectionOptions, prefix: infra.config.QUEUE_PREFIX, concurrency }
  )
}
