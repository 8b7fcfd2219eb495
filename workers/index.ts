import type { Worker } from 'bullmq'
import { createMailTransport } from '../src/delivery/email.js'
import { createPool } from '../src/db/pool.js'
import { createRedis, type Infra } from '../src/infra.js'
import { startSweeper, type OutboxRow } from '../src/jobs/outbox-relay.js'
import { startAutoAssign } from './auto-assign.js'
import { handOffToDelivery } from '../src/delivery/hand-off.js'
import { createDeliverWorker, createDeliveryBatcher } from './deliver.js'
import { createErasureNoticeWorker } from './erasure-notices.js'
import { watchForBursts, type BurstWatchOptions } from './give-way.js'
import type { PressureSource } from '../src/lib/intake-pressure.js'
import { startRetention } from './retention.js'
import { createRouteBatcher, createRouteWorker, LocalRouting } from './route.js'
import { createMediaWorker } from './media.js'
import { createSendWorker } from './send.js'
import { slaCheckMs, startSlaClock } from './sla.js'
import { createWebhookWorker } from './webhooks.js'

/** Most new cases held in memory for routing (a burst's worth at thousands a second); more go to the queue. */
const LOCAL_MAX_HELD = 200_000

/** What can be stopped: the workers, wherever they run. */
export interface Stoppable {
  /** Stops taking work, waits for what is in hand to finish, and disconnects. */
  close(): Promise<void>
}

export interface Workers extends Stoppable {
  /**
   * New cases' outbox rows handed over in this process, without a case:route job: placed by
   * the route worker's batcher (or, beyond what it may hold, queued). After close, queued.
   */
  route(rows: OutboxRow[]): void
}

/**
 * Starts every queue's worker, the outbox sweeper, the SLA clock, automatic assignment and
 * the retention job.
 * With `giveWay` (the all-in-one process, INTAKE_PRIORITY on) new cases handed over in the
 * process wait for routing while the API has more contacts than Postgres stores at once,
 * each for at most INTAKE_PRIORITY_MAX_LAG_MS (workers/route.ts, LocalRouting); `pressure`
 * is where they read how busy the API is (this process's own counter unless given: on the
 * workers' thread, the figures the API's thread posts).
 */
export async function startWorkers(infra: Infra, opts: { giveWay?: boolean | Partial<BurstWatchOptions>; pressure?: PressureSource } = {}): Promise<Workers> {
  // Workers block on Redis: they get their own connection that never gives up a command.
  const connection = createRedis(infra.config.REDIS_URL, true)
  connection.on('error', () => {})
  await connection.connect()
  // The workers get their own, smaller Postgres pool. Under a burst of contacts the API's
  // connections then outnumber theirs, so accepting contacts keeps most of Postgres and
  // routing catches up afterwards; and a backlog of jobs can never take the connections
  // the API needs to answer residents. Each job holds a connection for one statement at a
  // time, so a few connections serve many concurrent jobs.
  // Their statements get more time than the API's (nobody is waiting on an answer, and the
  // sweeper's and pruner's statements grow with a backlog), but are still bounded, so a
  // stalled Postgres turns into failed jobs that retry, never into jobs hung for good.
  const db = createPool({ DATABASE_URL: infra.config.DATABASE_URL, DATABASE_POOL_SIZE: infra.config.WORKER_DATABASE_POOL_SIZE }, 'switchboard-workers', {
    statementTimeoutMs: Math.max(60_000, infra.config.DATABASE_STATEMENT_TIMEOUT_MS),
    lockTimeoutMs: Math.max(10_000, infra.config.DATABASE_LOCK_TIMEOUT_MS),
    // their statements place, claim and settle batches: each planned for its own batch
    customPlans: true
  })
  const jobs: Infra = { ...infra, db }
  // pooled: team mails reuse a few SMTP connections instead of a handshake each
  const mail = createMailTransport(infra.config.SMTP_URL, { pool: true, timeoutMs: infra.config.DELIVERY_TIMEOUT_MS })
  // routing hands the deliveries it commits straight to delivery: no job between the two
  const delivery = createDeliveryBatcher(jobs, mail)
  const handOff = handOffToDelivery(delivery, infra.queues, infra.log.child({ worker: 'case:deliver' }), infra.config.DELIVERY_BACKOFF_MS)
  const routing = createRouteBatcher(jobs, handOff)
  const route = createRouteWorker(jobs, connection, routing)
  const burst = opts.giveWay
    ? watchForBursts(opts.pressure ?? infra.intakePressure, infra.log.child({ component: 'workers' }), {
        // the API's statement slots for contacts (src/app.ts)
        crowd: Math.max(1, Math.floor(infra.config.DATABASE_POOL_SIZE / 2)),
        ...(typeof opts.giveWay === 'object' ? opts.giveWay : {})
      })
    : null
  // cases handed over in process go to the batcher beside the queue's jobs, a few batches'
  // worth at a time; the rest wait their turn in memory, well within the sweeper's lease
  const local = new LocalRouting(jobs, routing, {
    limit: 4 * infra.config.ROUTE_CONCURRENCY,
    maxHeld: LOCAL_MAX_HELD,
    maxWaitMs: 0.8 * infra.config.OUTBOX_LEASE_MS,
    ...(burst ? { giveWay: { burst, maxLagMs: infra.config.INTAKE_PRIORITY_MAX_LAG_MS } } : {})
  })
  const deliver = createDeliverWorker(jobs, connection, delivery)
  const send = createSendWorker(jobs, connection)
  const media = createMediaWorker(jobs, connection)
  const webhooks = createWebhookWorker(jobs, connection)
  const erasureNotices = createErasureNoticeWorker(jobs, connection, mail)
  const workers: Worker[] = [route, deliver, send, media, webhooks, erasureNotices]
  for (const w of workers) {
    w.on('failed', (job, err) => {
      // a delivery, send or webhook failure is already logged by its worker, with its detail
      const level = w.name === 'case-deliver' || w.name === 'message-send' || w.name === 'webhook-send' || w.name === 'erasure-notify' ? 'debug' : 'warn'
      infra.log[level]({ queue: w.name, jobId: job?.id, attempts: job?.attemptsMade, err: { message: err.message } }, 'job failed')
    })
    w.on('error', (err) => infra.log.warn({ queue: w.name, err: { message: err.message } }, 'worker error'))
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()))
  const sweeper = startSweeper(db, infra.queues, infra.redis, { intervalMs: infra.config.OUTBOX_SWEEP_MS, leaseMs: infra.config.OUTBOX_LEASE_MS, log: infra.log.child({ component: 'outbox' }) })
  const sla = startSlaClock(db, { intervalMs: slaCheckMs(infra.config), log: infra.log.child({ component: 'sla' }) })
  const autoAssign = startAutoAssign(db, { everyMs: infra.config.ASSIGN_EVERY_MS, log: infra.log.child({ component: 'auto-assign' }) })
  const retention = await startRetention(jobs, connection)
  return {
    // once closing, LocalRouting sends what it is given to the queue
    route: (rows) => local.take(rows),
    async close() {
      burst?.stop()
      // cases held back go to the queue, for the next process to place
      await local.close()
      await retention.close()
      await autoAssign.stop()
      await sweeper.stop()
      await sla.stop()
      // routing first: the deliveries it hands over while finishing are attempted and
      // recorded before the rest stop
      await route.close()
      await routing.idle()
      await Promise.all([delivery.idle(), ...workers.filter((w) => w !== route).map((w) => w.close())])
      mail.close()
      await connection.quit().catch(() => connection.disconnect())
      await db.end().catch(() => {})
    }
  }
}
