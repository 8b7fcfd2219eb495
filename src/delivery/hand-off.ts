import { UnrecoverableError } from 'bullmq'
import { enqueueLater, relayNow, type OutboxRow } from '../jobs/outbox-relay.js'
import type { Queues } from '../jobs/queues.js'
import type { Log } from '../logger.js'
import type { DeliveryBatcher } from './delivery-batcher.js'

/** A delivery the route write has just committed: its row, its destination and its outbox row. */
export interface NewDelivery {
  deliveryId: number
  destinationId: number
  outbox: OutboxRow
}

/** Where routing hands its new deliveries, once their rows are committed. */
export type HandOff = (deliveries: NewDelivery[]) => void

/**
 * Routing's deliveries go straight to this process's delivery batcher: no case:deliver
 * job, no look-up, the first attempt made as soon as its council has a free slot. The
 * committed outbox row stays the guarantee: it is marked done only when the attempt's
 * outcome is recorded, so if this process dies first the sweeper enqueues the delivery
 * after OUTBOX_LEASE_MS, as it would a job lost from Redis.
 *
 * What the queue is still for: a first attempt that failed and is to be tried again (a job
 * after `backoffMs`, BullMQ's backoff from there on), one whose council already holds its
 * share of this process (a job now, which waits its turn in the queue), and one that could
 * not be claimed or recorded (Postgres away; the job retries it). A dead letter is recorded
 * and needs nothing more.
 */
export function handOffToDelivery(batcher: DeliveryBatcher, queues: Queues, log: Log, backoffMs: number): HandOff {
  return (deliveries) => {
    for (const d of deliveries) {
      batcher.deliver({ deliveryId: d.deliveryId, outboxId: d.outbox.id, destinationId: d.destinationId }).then(
        (outcome) => {
          if (outcome === 'deferred') relayNow(queues, d.outbox, log)
        },
        (err: unknown) => {
          if (err instanceof UnrecoverableError) return
          enqueueLater(queues, d.outbox, backoffMs).catch((e: Error) => {
            log.warn({ outboxId: d.outbox.id, err: { message: e.message } }, 'could not schedule a delivery retry; the outbox sweeper will')
          })
        }
      )
    }
  }
}
