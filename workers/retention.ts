import { Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { applyRetention } from '../src/data-protection/retention.js'
import { createRetentionQueue, RETENTION_QUEUE, RETENTION_SCHEDULER, type RetentionJob } from '../src/jobs/queues.js'
import type { Infra } from '../src/infra.js'

/**
 * The retention job (src/data-protection/retention.ts): a BullMQ job scheduler adds a run
 * every RETENTION_EVERY_MINUTES, and the operator API adds one on demand. A BullMQ job
 * rather than a timer like the SLA clock, so a deployment of many worker processes runs it
 * once per interval, not once per process.
 *
 * Every worker process upserts the same scheduler: BullMQ keeps one per id, and upserting it
 * again with the same interval keeps its next run rather than adding another. A fresh
 * scheduler runs at once, then every interval. With RETENTION_EVERY_MINUTES=0 the scheduler
 * is removed; the worker still takes runs an operator asks for, so that request is never
 * answered 202 and then left waiting.
 */
export async function startRetention(infra: Infra, connection: Redis): Promise<{ close(): Promise<void> }> {
  const log = infra.log.child({ component: 'retention' })
  const { QUEUE_PREFIX, RETENTION_EVERY_MINUTES, RETENTION_BATCH_SIZE } = infra.config
  const queue = createRetentionQueue(connection, QUEUE_PREFIX)
  if (RETENTION_EVERY_MINUTES > 0) {
    await queue.upsertJobScheduler(RETENTION_SCHEDULER, { every: RETENTION_EVERY_MINUTES * 60_000 }, { name: 'apply', data: { v: 1, requestedBy: 'schedule' } })
  } else {
    await queue.removeJobScheduler(RETENTION_SCHEDULER)
  }
  // one run at a time per process; runs in different processes share the work safely (SKIP LOCKED)
  const worker = new Worker<RetentionJob>(
    RETENTION_QUEUE,
    async () => {
      const { runId, counts } = await applyRetention(infra.db, { now: new Date(), batchSize: RETENTION_BATCH_SIZE, log })
      return { runId, counts }
    },
    { connection: connection as unknown as ConnectionOptions, prefix: QUEUE_PREFIX, concurrency: 1 }
  )
  worker.on('failed', (job, err) => log.warn({ jobId: job?.id, attempts: job?.attemptsMade, err: { message: err.message } }, 'retention run failed; it will be tried again'))
  worker.on('error', (err) => log.warn({ err: { message: err.message } }, 'retention worker error'))
  await worker.waitUntilReady()
  return {
    async close() {
      await worker.close()
      await queue.close()
    }
  }
}
