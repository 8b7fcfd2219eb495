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
}

/**
 * Group routing for the case:route worker. BullMQ hands the worker many jobs at once (its
 * concurrency); each job's processor asks this batcher to place its case and waits for the
 * answer. A job is placed as soon as a batch slot is free: alone when routing is idle, so
 * a quiet service adds no wait. While every slot is busy (a backlog), the jobs that arrive
 * meanwhile are placed together by the next batch: two statements and one commit for the
 * lot (routeCases) instead of two statements and a commit each.
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
  private scheduled = false

  constructor(
    private readonly deps: RouteDeps,
    private readonly opts: RouteBatcherOptions
  ) {}

  route(job: RouteJobRef): Promise<RouteOutcome> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject })
      this.schedule()
    })
  }

  private schedule() {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || this.waiting.length === 0) return
    this.scheduled = true
    // one turn of the event loop, so jobs handed over in the same turn go together
    setImmediate(() => {
      this.scheduled = false
      while (this.inFlight < this.opts.maxInFlight && this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.opts.maxBatch)
        this.inFlight++
        void this.place(batch).finally(() => {
          this.inFlight--
          this.schedule()
        })
      }
    })
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
