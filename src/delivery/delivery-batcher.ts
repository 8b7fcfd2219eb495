import { UnrecoverableError } from 'bullmq'
import { attemptDelivery, claimDeliveries, deliveryLeaseMs, settleDeliveries, settlementOf, type DeliveryDeps, type DeliveryOutcome, type Settlement } from './deliver-case.js'

export type BatchedDeliveryOutcome = DeliveryOutcome | 'deferred'

/** A delivery to attempt: its outbox row, and its destination when the caller knows it (the route worker does). */
export interface DeliveryRequest {
  deliveryId: number
  outboxId: number
  destinationId?: number
}

/** The delivery's attempt is in flight elsewhere (another process, or a job run twice): nothing was sent; try later. */
export class DeliveryHeldError extends Error {
  constructor(deliveryId: number) {
    super(`delivery ${deliveryId} is held by an attempt in flight elsewhere; nothing sent`)
    this.name = 'DeliveryHeldError'
  }
}

interface Waiting {
  job: DeliveryRequest
  destinationId: number | null
  resolve(outcome: BatchedDeliveryOutcome): void
  reject(err: unknown): void
}

export interface DeliveryBatcherOptions {
  /** attempts in flight at once to one destination (one council system's endpoint or mailbox) */
  perDestination: number
  /** jobs one destination may hold in this process, sending or waiting; more are put back for a moment */
  perDestinationHeld: number
}

/**
 * Delivery in sets. The case:deliver worker hands each job here and waits for its outcome.
 * Jobs that arrive together are looked up and claimed together (one statement), their
 * webhooks and mails go out concurrently, at most `perDestination` at a time to any one
 * destination, and the outcomes are recorded together as they come back (one statement per
 * group). A webhook is still one signed request per case.
 *
 * One slow council must not hold up the others: its attempts wait for its own slots, never
 * for another's, and a destination never holds more than `perDestinationHeld` of the
 * worker's jobs; beyond that a job is deferred (put back in the queue for a second, no
 * attempt used), so the worker's other slots keep serving everyone else.
 *
 * Requests come from the case:deliver worker's jobs and, with no job in between, from the
 * route worker of the same process as it commits a routed case (its destination already
 * known, so not looked up). The same delivery asked for twice while held here is attempted
 * once, and both askers get its outcome. Across processes the claim's lease keeps a
 * delivery to one attempt at a time.
 *
 * An outcome is answered only once it is recorded: delivered or kept resolves; a failure
 * to retry rejects (BullMQ retries with backoff); a dead letter rejects with
 * UnrecoverableError; a delivery held by an attempt elsewhere rejects with
 * DeliveryHeldError. Written by hand: it is the delivery policy itself (claims, limits,
 * group commit), not a general-purpose queue.
 */
export class DeliveryBatcher {
  private incoming: Waiting[] = []
  private readonly queued = new Map<number, Waiting[]>()
  private readonly inFlight = new Map<number, number>()
  private readonly held = new Map<number, number>()
  private settling: Array<{ settlement: Settlement; waiting: Waiting }> = []
  /** every delivery held here, from request to recorded outcome */
  private readonly holding = new Map<number, Promise<BatchedDeliveryOutcome>>()
  private idleWaiters: Array<() => void> = []
  private pumping = false
  private again = false
  private readonly leaseMs: number

  constructor(
    private readonly deps: DeliveryDeps,
    private readonly opts: DeliveryBatcherOptions
  ) {
    this.leaseMs = deliveryLeaseMs(deps.settings.timeoutMs)
  }

  deliver(job: DeliveryRequest): Promise<BatchedDeliveryOutcome> {
    const held = this.holding.get(job.deliveryId)
    if (held) return held
    const outcome = new Promise<BatchedDeliveryOutcome>((resolve, reject) => {
      const w: Waiting = { job, destinationId: null, resolve, reject }
      if (job.destinationId === undefined) this.incoming.push(w)
      else this.enqueue(w, job.destinationId)
      this.pump()
    })
    this.holding.set(job.deliveryId, outcome)
    const done = () => {
      this.holding.delete(job.deliveryId)
      if (this.holding.size === 0) for (const wake of this.idleWaiters.splice(0)) wake()
    }
    outcome.then(done, done)
    return outcome
  }

  /** Resolves once nothing is held: every delivery asked for has its outcome recorded (at shutdown). */
  idle(): Promise<void> {
    if (this.holding.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Runs the steps until nothing is left to do; one statement at a time, the sends in between. */
  private pump(): void {
    if (this.pumping) {
      this.again = true
      return
    }
    this.pumping = true
    setImmediate(() => {
      void this.steps()
        .catch((err) => this.deps.log.error({ err: { message: (err as Error).message } }, 'delivery batcher step failed'))
        .finally(() => {
          this.pumping = false
          if (this.again) {
            this.again = false
            this.pump()
          }
        })
    })
  }

  private async steps(): Promise<void> {
    do {
      this.again = false
      await this.settle()
      await this.sort()
      await this.start()
    } while (this.again)
  }

  /** New jobs: which destination each is for; settled or missing ones are answered at once. */
  private async sort(): Promise<void> {
    const batch = this.incoming.splice(0)
    if (!batch.length) return
    try {
      const { rows } = await this.deps.db.query<{ id: string; destination_id: string; state: string }>({
        name: 'deliver-look-up',
        text: 'select id, destination_id, state from deliveries where id = any($1::bigint[])',
        values: [batch.map((w) => w.job.deliveryId)]
      })
      const found = new Map(rows.map((r) => [Number(r.id), r]))
      const settled: Waiting[] = []
      for (const w of batch) {
        const row = found.get(w.job.deliveryId)
        if (!row || (row.state !== 'pending' && row.state !== 'retrying')) {
          settled.push(w)
          continue
        }
        this.enqueue(w, Number(row.destination_id))
      }
      if (settled.length) {
        // delivered or dead-lettered already (a duplicate job), or gone: its outbox row is done
        await this.deps.db.query('update outbox set done_at = clock_timestamp() where id = any($1::bigint[]) and done_at is null', [settled.map((w) => w.job.outboxId)])
        for (const w of settled) w.resolve(found.has(w.job.deliveryId) ? 'already_settled' : 'missing')
      }
    } catch (err) {
      for (const w of batch) w.reject(err)
    }
  }

  /** Lines a request up behind its destination, or defers it if the destination already holds its share. */
  private enqueue(w: Waiting, destination: number): void {
    if ((this.held.get(destination) ?? 0) >= this.opts.perDestinationHeld) {
      w.resolve('deferred')
      return
    }
    w.destinationId = destination
    this.held.set(destination, (this.held.get(destination) ?? 0) + 1)
    const line = this.queued.get(destination) ?? []
    line.push(w)
    this.queued.set(destination, line)
  }

  /** Claims, in one statement, every queued job whose destination has a free slot, and sends them. */
  private async start(): Promise<void> {
    const starting: Waiting[] = []
    for (const [destination, line] of this.queued) {
      let free = this.opts.perDestination - (this.inFlight.get(destination) ?? 0)
      while (free-- > 0 && line.length) starting.push(line.shift()!)
      if (!line.length) this.queued.delete(destination)
    }
    if (!starting.length) return
    for (const w of starting) this.inFlight.set(w.destinationId!, (this.inFlight.get(w.destinationId!) ?? 0) + 1)
    let claimed: Awaited<ReturnType<typeof claimDeliveries>>
    try {
      claimed = await claimDeliveries(this.deps.db, starting.map((w) => w.job.deliveryId), this.leaseMs)
    } catch (err) {
      for (const w of starting) this.release(w).reject(err)
      return
    }
    const byId = new Map(claimed.map((d) => [d.id, d]))
    const unclaimed = starting.filter((w) => !byId.has(w.job.deliveryId))
    if (unclaimed.length) void this.unclaimed(unclaimed)
    for (const w of starting) {
      const delivery = byId.get(w.job.deliveryId)
      if (!delivery) continue
      void attemptDelivery(this.deps, delivery)
        .catch((err: Error) => ({ ok: false, permanent: false, status: null, detail: `attempt failed: ${err.message}` }))
        .then((result) => {
          this.settling.push({ settlement: settlementOf(this.deps, delivery, w.job.outboxId, result), waiting: w })
          this.pump()
        })
    }
  }

  /**
   * Requests the claim did not take: settled since (a duplicate; its outbox row is done) or
   * gone, answered as such; or held by an attempt in flight elsewhere, which will record
   * the outcome: this request sent nothing and fails, to be tried again later.
   */
  private async unclaimed(ws: Waiting[]): Promise<void> {
    for (const w of ws) this.release(w)
    try {
      const { rows } = await this.deps.db.query<{ id: string; settled: boolean }>({
        name: 'deliver-unclaimed',
        text: `select id, state not in ('pending', 'retrying') as settled from deliveries where id = any($1::bigint[])`,
        values: [ws.map((w) => w.job.deliveryId)]
      })
      const settled = new Map(rows.map((r) => [Number(r.id), r.settled]))
      const over = ws.filter((w) => settled.get(w.job.deliveryId) !== false)
      if (over.length) await this.deps.db.query('update outbox set done_at = clock_timestamp() where id = any($1::bigint[]) and done_at is null', [over.map((w) => w.job.outboxId)])
      for (const w of ws) {
        const state = settled.get(w.job.deliveryId)
        if (state === undefined) w.resolve('missing')
        else if (state) w.resolve('already_settled')
        else w.reject(new DeliveryHeldError(w.job.deliveryId))
      }
    } catch (err) {
      for (const w of ws) w.reject(err)
    }
  }

  /** Records the outcomes that have come back, together, then answers their jobs. */
  private async settle(): Promise<void> {
    const batch = this.settling.splice(0)
    if (!batch.length) return
    try {
      await settleDeliveries(this.deps, batch.map((b) => b.settlement))
    } catch (err) {
      // nothing recorded: each job fails and is retried; its attempt was counted at the claim
      for (const b of batch) this.release(b.waiting).reject(err)
      return
    }
    for (const { settlement: s, waiting } of batch) {
      this.release(waiting)
      if (s.outcome === 'delivered' || s.outcome === 'kept') waiting.resolve(s.outcome)
      else if (s.outcome === 'dead') waiting.reject(new UnrecoverableError(`delivery ${s.delivery.public_id} dead-lettered: ${s.result.detail}`))
      else waiting.reject(new Error(`delivery attempt ${s.delivery.attempts} failed: ${s.result.detail}`))
    }
  }

  /** Frees the job's slot and its hold on its destination. */
  private release(w: Waiting): Waiting {
    const d = w.destinationId
    if (d !== null) {
      this.inFlight.set(d, Math.max(0, (this.inFlight.get(d) ?? 0) - 1))
      this.held.set(d, Math.max(0, (this.held.get(d) ?? 0) - 1))
      if (!this.inFlight.get(d)) this.inFlight.delete(d)
      if (!this.held.get(d)) this.held.delete(d)
      w.destinationId = null
    }
    return w
  }
}
