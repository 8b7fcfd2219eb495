import type { Log } from '../logger.js'
import type { Db } from '../db/pool.js'
import { outboxJobId, type Queues, type Topic } from './queues.js'

export interface OutboxRow {
  id: number
  topic: Topic
  payload: Record<string, number>
}

/** The queue job for an outbox row: ids only, with the row id as job id. */
function routeJob(row: OutboxRow) {
  return { name: 'route', data: { v: 1 as const, outboxId: row.id, caseId: Number(row.payload.case_id) }, opts: { jobId: outboxJobId(row.id) } }
}
function deliverJob(row: OutboxRow) {
  return { name: 'deliver', data: { v: 1 as const, outboxId: row.id, deliveryId: Number(row.payload.delivery_id) }, opts: { jobId: outboxJobId(row.id) } }
}

/** Adds one outbox row's job to its queue; a second add of the same row is a no-op. */
export async function enqueue(queues: Queues, row: OutboxRow): Promise<void> {
  if (row.topic === 'case:route') {
    const job = routeJob(row)
    await queues['case:route'].add(job.name, job.data, job.opts)
  } else {
    const job = deliverJob(row)
    await queues['case:deliver'].add(job.name, job.data, job.opts)
  }
}

const waiting = new WeakMap<Queues, { rows: OutboxRow[]; log: Log }>()

/**
 * Fast path after a commit: hand the job to Redis straight away. Rows committed in the same
 * turn of the event loop go together (one round trip per queue instead of one per
 * contact, which matters under a burst), without waiting any longer than that turn.
 * Failures are only logged: the rows are still pending in Postgres and the sweeper will
 * enqueue them.
 */
export function relayNow(queues: Queues, row: OutboxRow, log: Log): void {
  const batch = waiting.get(queues)
  if (batch) {
    batch.rows.push(row)
    return
  }
  waiting.set(queues, { rows: [row], log })
  setImmediate(() => {
    const { rows, log: batchLog } = waiting.get(queues) ?? { rows: [], log }
    waiting.delete(queues)
    const sent = rows.length === 1 ? enqueue(queues, rows[0] as OutboxRow) : enqueueMany(queues, rows)
    sent.catch((err: Error) => {
      batchLog.warn({ outboxIds: rows.map((r) => r.id), err: { message: err.message } }, 'enqueue after commit failed; the outbox sweeper will retry')
    })
  })
}

/** Adds many outbox rows' jobs in one round trip per queue; already-queued ids are no-ops. */
export async function enqueueMany(queues: Queues, rows: OutboxRow[]): Promise<void> {
  const route = rows.filter((r) => r.topic === 'case:route').map(routeJob)
  const deliver = rows.filter((r) => r.topic === 'case:deliver').map(deliverJob)
  await Promise.all([route.length ? queues['case:route'].addBulk(route) : null, deliver.length ? queues['case:deliver'].addBulk(deliver) : null])
}

/**
 * Re-enqueues outbox rows whose work has not been done: never relayed (Redis was down, the
 * process died after the commit) or relayed longer than `leaseMs` ago and still pending
 * (the job was lost, e.g. Redis was flushed). A row whose job is still queued costs a no-op
 * add. The rows are claimed (relayed_at stamped) in one short statement and enqueued after
 * it, so no row lock is held while Redis is talked to, and several worker processes sweep
 * side by side (SKIP LOCKED). If enqueueing fails the claim is given back for the next sweep.
 */
export async function sweepOutbox(db: Db, queues: Queues, leaseMs: number, limit = 500): Promise<number> {
  const { rows } = await db.query<OutboxRow>(
    `update outbox set relayed_at = clock_timestamp()
      where id in (select id from outbox
                    where done_at is null and coalesce(relayed_at, created_at) <= clock_timestamp() - make_interval(secs => $1::float8 / 1000)
                    order by id limit $2 for update skip locked)
      returning id, topic, payload`,
    [leaseMs, limit]
  )
  if (!rows.length) return 0
  try {
    await enqueueMany(queues, rows)
  } catch (err) {
    await db.query('update outbox set relayed_at = null where id = any($1::bigint[]) and done_at is null', [rows.map((r) => r.id)]).catch(() => {})
    throw err
  }
  return rows.length
}

/** Marks an outbox row's work done, normally in the same transaction as the work. */
export async function markOutboxDone(db: Pick<Db, 'query'>, outboxId: number): Promise<void> {
  await db.query('update outbox set done_at = clock_timestamp() where id = $1 and done_at is null', [outboxId])
}

/** Done rows older than a day are history nobody reads; keep the table small. */
export async function pruneOutbox(db: Db): Promise<number> {
  const res = await db.query(`delete from outbox where done_at < now() - interval '1 day'`)
  return res.rowCount ?? 0
}

export interface Sweeper {
  stop(): Promise<void>
}

/** Sweeps at once (catching up after a restart), then every `intervalMs`. */
export function startSweeper(db: Db, queues: Queues, opts: { intervalMs: number; leaseMs: number; log: Log }): Sweeper {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  let stopped = false
  let lastPrune = 0
  const tick = async (leaseMs: number) => {
    try {
      let n: number
      do {
        n = await sweepOutbox(db, queues, leaseMs)
        if (n) opts.log.info({ count: n }, 'outbox sweep re-enqueued pending work')
      } while (n > 0 && !stopped && n >= 500)
      if (Date.now() - lastPrune > 3_600_000) {
        lastPrune = Date.now()
        await pruneOutbox(db)
      }
    } catch (err) {
      opts.log.warn({ err: { message: (err as Error).message } }, 'outbox sweep failed; will try again')
    }
  }
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      running = tick(opts.leaseMs).finally(schedule)
    }, opts.intervalMs)
    timer.unref()
  }
  running = tick(0).finally(schedule)
  return {
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running
    }
  }
}
