import { AppError } from '../errors.js'

interface Waiting<T, R> {
  item: T
  /** performance.now() when it joined the line */
  since: number
  resolve(result: R): void
  reject(err: unknown): void
}

/** How a GroupCommit stores what it is given: one item in a statement, or several in one. */
export interface GroupStore<T, R> {
  /** stores one item in its own statement (and transaction) */
  one(item: T): Promise<R>
  /** stores several in one statement, all or none; results in the order given */
  many(items: readonly T[]): Promise<R[]>
  /**
   * The order every batch stores its items in (by resident, then message), so that two
   * batches with the same residents take their row locks in the same order and cannot deadlock.
   */
  lockKey(item: T): string
}

export interface GroupCommitOptions {
  /** statements in flight at once; contacts arriving while all are busy wait for the next */
  maxInFlight: number
  /** most contacts stored by one statement */
  maxBatch: number
  /** most contacts waiting for a statement; one more is refused at once (503) */
  maxWaiting?: number
  /** longest a contact waits for its statement to start before it is refused (503), ms */
  maxWaitMs?: number
}

/**
 * Group commit for intake (web, texts, calls, Open311: IntakeBatcher; mail: the email
 * store). A contact is stored as soon as a statement slot is free, on its
 * own, as before. While every slot is busy (a burst), the contacts that arrive meanwhile
 * are stored together by the next statement, in one transaction: one round trip, one
 * commit and one executor start-up instead of one each, which is most of what a contact
 * costs Postgres and the process. Nobody is answered before their statement has committed,
 * so the guarantee is unchanged; a quiet service adds no wait at all.
 *
 * The line is bounded in length and in time: when Postgres is slow or stalled (a lock held,
 * a disk gone slow), a contact that cannot start its statement within `maxWaitMs`, or that
 * finds `maxWaiting` ahead of it, is refused with a temporary error (503 and Retry-After,
 * so the sender retries) instead of waiting without end while memory grows. A contact
 * refused this way was never sent to Postgres, so nothing of it is stored; one whose
 * statement has started is answered by that statement, whose own time Postgres bounds
 * (statement_timeout, lock_timeout).
 *
 * Written here rather than taken from a library: the DataLoader-style batchers on npm
 * collect for a fixed tick and have no notion of "only while the database is busy", nor
 * of retrying the members of a failed batch one by one.
 */
export class GroupCommit<T, R> {
  private waiting: Waiting<T, R>[] = []
  private inFlight = 0
  private scheduled = false
  private expiry: NodeJS.Timeout | undefined

  constructor(
    private readonly store: GroupStore<T, R>,
    private readonly opts: GroupCommitOptions
  ) {}

  /** Contacts waiting for a statement right now. */
  get queued(): number {
    return this.waiting.length
  }

  /**
   * True while a contact arriving now would most likely be refused after waiting: the line
   * is full, or the contact at its head has already waited half of `maxWaitMs` (the line
   * moves in order, so a newcomer waits about as long as the head has). The web channel
   * then answers 503 before even reading the body: under a flood, a cheap early refusal
   * leaves the process's time for the contacts it can still store, instead of every
   * resident waiting seconds to be refused.
   */
  saturated(): boolean {
    if (this.opts.maxWaiting !== undefined && this.waiting.length >= this.opts.maxWaiting) return true
    const head = this.waiting[0]
    return head !== undefined && this.opts.maxWaitMs !== undefined && performance.now() - head.since >= this.opts.maxWaitMs / 2
  }

  /** Stores one contact; resolves once it is committed. */
  submit(item: T): Promise<R> {
    if (this.opts.maxWaiting !== undefined && this.waiting.length >= this.opts.maxWaiting) {
      return Promise.reject(busy('Too many contacts are waiting to be stored; retry shortly'))
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, since: performance.now(), resolve, reject })
      this.schedule()
      this.armExpiry()
    })
  }

  private schedule() {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || this.waiting.length === 0) return
    this.scheduled = true
    // one turn of the event loop, so that contacts parsed in the same turn go together
    setImmediate(() => {
      this.scheduled = false
      this.flush()
    })
  }

  private flush() {
    while (this.inFlight < this.opts.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.opts.maxBatch)
      this.inFlight++
      void this.write(batch).finally(() => {
        this.inFlight--
        this.schedule()
      })
    }
    this.armExpiry()
  }

  /** A timer for the oldest waiting contact's deadline (the line is in arrival order). */
  private armExpiry() {
    const maxWait = this.opts.maxWaitMs
    if (maxWait === undefined || this.expiry || this.waiting.length === 0) return
    const oldest = this.waiting[0]!
    const due = Math.max(0, oldest.since + maxWait - performance.now())
    this.expiry = setTimeout(() => {
      this.expiry = undefined
      const now = performance.now()
      while (this.waiting.length && now - this.waiting[0]!.since >= maxWait) {
        this.remove(this.waiting[0]!, busy('The database is not keeping up; retry shortly'))
      }
      this.armExpiry()
    }, due + 1)
    this.expiry.unref()
  }

  private remove(entry: Waiting<T, R>, err: AppError) {
    const i = this.waiting.indexOf(entry)
    if (i < 0) return
    this.waiting.splice(i, 1)
    entry.reject(err)
  }

  private async write(batch: Waiting<T, R>[]): Promise<void> {
    if (batch.length === 1) {
      const [only] = batch as [Waiting<T, R>]
      await this.store.one(only.item).then(only.resolve, only.reject)
      return
    }
    // the same order in every batch (GroupStore.lockKey)
    const keyed = batch.map((w) => ({ w, key: this.store.lockKey(w.item) }))
    keyed.sort((a, b) => compare(a.key, b.key))
    const sorted = keyed.map((k) => k.w)
    try {
      const results = await this.store.many(sorted.map((w) => w.item))
      sorted.forEach((w, i) => w.resolve(results[i]!))
    } catch (err) {
      if (!isStatementError(err)) {
        // Postgres is away: nothing was stored, and one by one would fail the same way
        for (const w of sorted) w.reject(err)
        return
      }
      // One contact broke the statement, and with it the batch's transaction (nothing was
      // stored). Store each on its own, so only that contact's sender sees the error.
      await Promise.all(sorted.map((w) => this.store.one(w.item).then(w.resolve, w.reject)))
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * An error Postgres raised while running the statement (a SQLSTATE outside the classes
 * for connection loss, resources and shutdown), as opposed to not reaching it at all. A
 * deadlock or serialization failure counts: one by one, it will not recur. A lock or
 * statement timeout does not: Postgres is stalled, not the contact at fault.
 */
function isStatementError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  // 55P03: a lock not granted within lock_timeout; one by one would wait as long again
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|53|57|58)/.test(code) && code !== '55P03'
}

function busy(message: string): AppError {
  return new AppError('temporarily_unavailable', { message })
}
