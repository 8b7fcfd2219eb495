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

export interface LocalRoutingOptions {
  /** most cases in the batcher's hands at once; the rest wait here, in arrival order */
  limit: number
  /** most cases waiting here; more go to the case:route queue, so memory stays bounded */
  maxHeld: number
  /** a case that has waited here this long goes to the queue (kept below the outbox sweeper's lease), ms */
  maxWaitMs: number
  /**
   * Giving way (INTAKE_PRIORITY): while a burst is on, new cases wait here, up to `maxLagMs`
   * each, so that the machine's time goes to storing and acknowledging contacts.
   */
  giveWay?: { burst: { readonly on: boolean }; maxLagMs: number }
}

/**
 * New cases handed over in this process (the all-in-one process's API, through
 * relayLocally), placed by the same batcher as the queue's jobs, in the order they came.
 * Those the batcher cannot take now wait here; beyond `maxHeld`, or once they have waited
 * `maxWaitMs`, they go to the queue instead. A case whose placing fails goes to the queue
 * too, after a short wait, for the job's attempts and, at the last, triage.
 *
 * With `giveWay`, while contacts arrive faster than Postgres stores them (a burst, as
 * workers/give-way.ts reads it), new cases are held back rather than placed: on a machine
 * whose cores the API, the workers and Postgres share, routing and delivering during a
 * burst take about a third of the time the API would spend acknowledging residents. Once
 * the burst is over, the cases held are placed in large batches, which cost less per case.
 * No case is held longer than `maxLagMs`: under a sustained overload, routing then keeps
 * pace with intake at that lag. Nothing is at risk meanwhile: each case's outbox row stays
 * pending until it is placed, and the sweeper enqueues it if this process dies.
 */
export class LocalRouting {
  private held: Array<{ row: OutboxRow; at: number }> = []
  private head = 0
  private timer: NodeJS.Timeout | undefined
  private pumping = false
  private closed = false
  private readonly log: Infra['log']

  constructor(
    private readonly infra: Infra,
    private readonly batcher: RouteBatcher,
    private readonly opts: LocalRoutingOptions
  ) {
    this.log = infra.log.child({ worker: 'case:route' })
  }

  /** Cases waiting here, not yet handed to the batcher. */
  waiting(): number {
    return this.held.length - this.head
  }

  take(rows: OutboxRow[]): void {
    if (this.closed) return void this.toQueue(rows)
    const room = Math.max(0, this.opts.maxHeld - this.waiting())
    const at = performance.now()
    for (const row of rows.slice(0, room)) this.held.push({ row, at })
    if (rows.length > room) this.toQueue(rows.slice(room))
    this.pump()
  }

  /** Stops holding: what waits here goes to the queue (where the next process finds it). */
  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    const rows = this.held.slice(this.head).map((h) => h.row)
    this.held = []
    this.head = 0
    if (rows.length) await this.toQueue(rows)
  }

  private pump(): void {
    const now = performance.now()
    const stale: OutboxRow[] = []
    const holding = this.opts.giveWay?.burst.on === true
    while (this.head < this.held.length) {
      const { row, at } = this.held[this.head]!
      const waited = now - at
      if (waited >= this.opts.maxWaitMs) stale.push(row)
      else if (holding && waited < this.opts.giveWay!.maxLagMs) break
      else if (this.batcher.pending() >= this.opts.limit) break
      else this.place(row)
      this.head++
    }
    // drop the handed-over part of the line now and then, not at every case
    if (this.head >= 4096 || this.head === this.held.length) {
      this.held = this.held.slice(this.head)
      this.head = 0
    }
    if (stale.length) void this.toQueue(stale)
    // while cases wait: look again shortly (a burst ends, a case reaches its lag)
    if (this.waiting() > 0 && !this.timer && !this.closed) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.pump()
      }, 100)
    }
  }

  private place(row: OutboxRow): void {
    const caseId = Number(row.payload.case_id)
    this.batcher
      .route({ caseId, outboxId: row.id })
      .catch((err: Error) => {
        this.log.debug({ caseId, err: { message: err.message } }, 'placing a case handed over failed; it goes to the queue')
        enqueueLater(this.infra.queues, row, RETRY_AFTER_MS).catch(() => {})
      })
      .finally(() => this.pumpSoon())
  }

  /** After each placed case: one pump per turn of the event loop, however many settled in it. */
  private pumpSoon(): void {
    if (this.pumping || this.waiting() === 0) return
    this.pumping = true
    setImmediate(() => {
      this.pumping = false
      this.pump()
    })
  }

  private toQueue(rows: OutboxRow[]): Promise<void> {
    return enqueueMany(this.infra.queues, rows).catch((err: Error) =>
      this.log.warn({ outboxIds: rows.map((r) => r.id), err: { message: err.message } }, 'enqueue failed; the outbox sweeper will retry')
    )
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
