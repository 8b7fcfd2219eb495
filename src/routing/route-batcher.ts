import { isTransientInfraError } from '../errors.js'
import { routeCase, routeCases, type RouteDeps, type RouteJobRef, type RouteOutcome } from './route-case.js'

interface Waiting {
  job: RouteJobRef
  resolve(outcome: RouteOutcome): void
  reject(err: unknown): void
}

export interface RouteBatcherOptions {
  /** batches being written at once; jobs arriving while all are busy wait for the next */
  maxInFlight: number
  /** most cases placed by one batch */
  maxBatch: number
  /**
   * least time between the starts of two batches, ms: cases arriving a few at a time while
   * routing is busy are gathered into one batch rather than each starting its own. A case
   * arriving after a quiet spell is placed at once.
   */
  minGapMs?: number
}

/**
 * Group routing for the case:route worker. BullMQ hands the worker many jobs at once (its
 * concurrency); each job's processor asks this batcher to place its case and waits for the
 * answer. A job is placed as soon as a batch slot is free and the last batch started at
 * least `minGapMs` ago: alone when routing is idle, so a quiet service adds no wait. While
 * every slot is busy (a backlog), or a batch has just started (a steady stream), the jobs
 * that arrive meanwhile are placed together by the next batch: two statements and one
 * commit for the lot (routeCases) instead of two statements and a commit each. At a
 * steady few hundred cases a second that is the difference between a statement per case
 * and one per handful, on a machine that also has to take the contacts in.
 *
 * A batch whose statement fails on the data (a constraint, a bad value) is retried one job
 * at a time, so only the job at fault fails; a batch that fails because Postgres is away
 * fails every job, for BullMQ to retry and the outbox sweeper to bring back.
 *
 * Written here rather than taken from a library, for the same reasons as IntakeBatcher:
 * the collect-for-a-tick batchers on npm batch even when idle and know nothing of retrying
 * a failed batch's members one by one.
 */
export class RouteBatcher {
  private waiting: Waiting[] = []
  private inFlight = 0
  /** jobs in the batches being written */
  private placing = 0
  private scheduled = false
  private lastStart = Number.NEGATIVE_INFINITY
  private idleWaiters: Array<() => void> = []

  constructor(
    private readonly deps: RouteDeps,
    private readonly opts: RouteBatcherOptions
  ) {}

  /** Jobs held: waiting for a batch, or in one being written. */
  pending(): number {
    return this.waiting.length + this.placing
  }

  /** Resolves once nothing is held (at shutdown, after the last job is handed over). */
  idle(): Promise<void> {
    if (this.pending() === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  route(job: RouteJobRef): Promise<RouteOutcome> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject })
      this.schedule()
    })
  }

  private schedule() {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || this.waiting.length === 0) return
    this.scheduled = true
    const run = () => {
      this.scheduled = false
      while (this.inFlight < this.opts.maxInFlight && this.waiting.length > 0) {
        // a batch started since this was scheduled: the next waits its turn
        if (performance.now() < this.lastStart + (this.opts.minGapMs ?? 0)) return this.schedule()
        this.lastStart = performance.now()
        const batch = this.waiting.splice(0, this.opts.maxBatch)
        this.inFlight++
        this.placing += batch.length
        void this.place(batch).finally(() => {
          this.inFlight--
          this.placing -= batch.length
          if (this.pending() === 0) for (const wake of this.idleWaiters.splice(0)) wake()
          this.schedule()
        })
      }
    }
    const wait = this.lastStart + (this.opts.minGapMs ?? 0) - performance.now()
    // at the soonest, one turn of the event loop, so jobs handed over in the same turn go together
    if (wait > 0) setTimeout(run, wait)
    else setImmediate(run)
  }

  private async place(batch: Waiting[]): Promise<void> {
    try {
      const outcomes = await routeCases(this.deps, batch.map((w) => w.job))
      batch.forEach((w, i) => w.resolve(outcomes[i]!))
    } catch (err) {
      if (batch.length === 1 || isTransientInfraError(err)) {
        for (const w of batch) w.reject(err)
        return
      }
      this.deps.log.warn({ cases: batch.length, err: { message: (err as Error).message } }, 'a routing batch failed; placing its cases one by one')
      await Promise.all(batch.map((w) => routeCase(this.deps, w.job).then(w.resolve, w.reject)))
    }
  }
}
