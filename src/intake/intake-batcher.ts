import type { Queryable } from '../db/pool.js'
import type { InboundContact } from './inbound-contact.js'
import { intakeContact, intakeContacts, type IntakeResult } from './intake.js'

interface Waiting {
  contact: InboundContact
  resolve(result: IntakeResult): void
  reject(err: unknown): void
}

export interface IntakeBatcherOptions {
  /** statements in flight at once; contacts arriving while all are busy wait for the next */
  maxInFlight: number
  /** most contacts stored by one statement */
  maxBatch: number
}

/**
 * Group commit for intake. A contact is stored as soon as a statement slot is free, on its
 * own, as before. While every slot is busy (a burst), the contacts that arrive meanwhile
 * are stored together by the next statement, in one transaction: one round trip, one
 * commit and one executor start-up instead of one each, which is most of what a contact
 * costs Postgres and the process. Nobody is answered before their statement has committed,
 * so the guarantee is unchanged; a quiet service adds no wait at all.
 *
 * Written here rather than taken from a library: the DataLoader-style batchers on npm
 * collect for a fixed tick and have no notion of "only while the database is busy", nor
 * of retrying the members of a failed batch one by one.
 */
export class IntakeBatcher {
  private waiting: Waiting[] = []
  private inFlight = 0
  private scheduled = false

  constructor(
    private readonly db: Queryable,
    private readonly opts: IntakeBatcherOptions
  ) {}

  /** Stores one contact; resolves once it is committed (see intakeContact). */
  submit(contact: InboundContact): Promise<IntakeResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ contact, resolve, reject })
      this.schedule()
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
      void this.store(batch).finally(() => {
        this.inFlight--
        this.schedule()
      })
    }
  }

  private async store(batch: Waiting[]): Promise<void> {
    if (batch.length === 1) {
      const [only] = batch as [Waiting]
      await intakeContact(this.db, only.contact).then(only.resolve, only.reject)
      return
    }
    // The same order in every batch (by resident, then message), so that two batches with
    // the same residents take their row locks in the same order and cannot deadlock.
    batch.sort((a, b) => compare(lockKey(a.contact), lockKey(b.contact)))
    try {
      const results = await intakeContacts(this.db, batch.map((w) => w.contact))
      batch.forEach((w, i) => w.resolve(results[i]!))
    } catch (err) {
      if (!isStatementError(err)) {
        // Postgres is away: nothing was stored, and one by one would fail the same way
        for (const w of batch) w.reject(err)
        return
      }
      // One contact broke the statement, and with it the batch's transaction (nothing was
      // stored). Store each on its own, so only that contact's sender sees the error.
      await Promise.all(batch.map((w) => intakeContact(this.db, w.contact).then(w.resolve, w.reject)))
    }
  }
}

function lockKey(c: InboundContact): string {
  return `${c.sender.email ?? ''}\u0000${c.sender.phone ?? ''}\u0000${c.provider}\u0000${c.providerMessageId}`
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * An error Postgres raised while running the statement (a SQLSTATE outside the classes
 * for connection loss, resources and shutdown), as opposed to not reaching it at all. A
 * deadlock or serialization failure counts: one by one, it will not recur.
 */
function isStatementError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|53|57|58)/.test(code)
}
