import type { Redis } from 'ioredis'
import type { Log } from '../logger.js'
import type { Db } from '../db/pool.js'
import type { Queue } from 'bullmq'
import { outboxJobId, TOPICS, type Queues, type Topic } from './queues.js'

export interface OutboxRow {
  id: number
  topic: Topic
  payload: Record<string, number>
  /** random per row: the job id (see outboxJobId) */
  job_key: string
}

/** The queue job for an outbox row: ids only, with the row's job key as job id. */
function jobOf(row: OutboxRow) {
  const opts = { jobId: outboxJobId(row) }
  const outboxId = row.id
  switch (row.topic) {
    case 'case:route':
      return { topic: row.topic, name: 'route', data: { v: 1 as const, outboxId, caseId: Number(row.payload.case_id) }, opts }
    case 'case:deliver':
      return { topic: row.topic, name: 'deliver', data: { v: 1 as const, outboxId, deliveryId: Number(row.payload.delivery_id) }, opts }
    case 'message:send':
      return { topic: row.topic, name: 'send', data: { v: 1 as const, outboxId, messageId: Number(row.payload.message_id) }, opts }
    case 'media:fetch':
      return { topic: row.topic, name: 'fetch', data: { v: 1 as const, outboxId, mediaId: Number(row.payload.media_id) }, opts }
    case 'webhook:send':
      return { topic: row.topic, name: 'webhook', data: { v: 1 as const, outboxId, webhookEventId: Number(row.payload.webhook_event_id) }, opts }
    case 'erasure:notify':
      return { topic: row.topic, name: 'notice', data: { v: 1 as const, outboxId, noticeId: Number(row.payload.notice_id) }, opts }
  }
}

const waiting = new WeakMap<Queues, { rows: OutboxRow[]; log: Log }>()

/** Takes a topic's rows in this process instead of Redis; see relayLocally. */
export type LocalHandler = (rows: OutboxRow[]) => void
const local = new WeakMap<Queues, Map<Topic, LocalHandler>>()

/**
 * From now on, relayNow hands this topic's rows to `handler`, in this process, instead of
 * adding jobs to Redis: the all-in-one process gives its new cases to the workers' thread
 * directly (workers/thread-host.ts). The outbox row is the guarantee, as with a job: the
 * handler's side marks it done with its work, and the sweeper enqueues it if that never
 * happens. Returns the function that goes back to Redis.
 */
export function relayLocally(queues: Queues, topic: Topic, handler: LocalHandler): () => void {
  const handlers = local.get(queues) ?? new Map<Topic, LocalHandler>()
  local.set(queues, handlers)
  handlers.set(topic, handler)
  return () => {
    if (handlers.get(topic) === handler) handlers.delete(topic)
  }
}

/**
 * Fast path after a commit: hand the job to Redis straight away (or to the topic's handler
 * in this process, see relayLocally). Rows committed in the same turn of the event loop go
 * together (one round trip per queue instead of one per contact, which matters under a
 * burst), without waiting any longer than that turn. Failures are only logged: the rows
 * are still pending in Postgres and the sweeper will enqueue them.
 */
export function relayNow(queues: Queues, row: OutboxRow, log: Log): void {
  const batch = waiting.get(queues)
  if (batch) {
    batch.rows.push(row)
    return
  }
  waiting.set(queues, { rows: [row], log })
  setImmediate(() => {
    const { rows: all, log: batchLog } = waiting.get(queues) ?? { rows: [], log }
    waiting.delete(queues)
    const handlers = local.get(queues)
    let rows = all
    if (handlers?.size) {
      rows = []
      const mine = new Map<LocalHandler, OutboxRow[]>()
      for (const r of all) {
        const handler = handlers.get(r.topic)
        if (!handler) {
          rows.push(r)
          continue
        }
        const list = mine.get(handler) ?? []
        if (!list.length) mine.set(handler, list)
        list.push(r)
      }
      for (const [handler, given] of mine) handler(given)
      if (!rows.length) return
    }
    const sent = enqueueMany(queues, rows)
    sent.catch((err: Error) => {
      batchLog.warn({ outboxIds: rows.map((r) => r.id), err: { message: err.message } }, 'enqueue after commit failed; the outbox sweeper will retry')
    })
  })
}

/** Adds many outbox rows' jobs in one round trip per queue; already-queued ids are no-ops. */
export async function enqueueMany(queues: Queues, rows: OutboxRow[]): Promise<void> {
  const jobs = rows.map(jobOf)
  await Promise.all(
    TOPICS.map((topic) => {
      const mine = jobs.filter((j) => j.topic === topic).map(({ name, data, opts }) => ({ name, data, opts }))
      // the queue of each topic takes the data shape of its jobs (see jobOf)
      return mine.length ? (queues[topic] as Queue).addBulk(mine) : null
    })
  )
}

/**
 * Adds one outbox row's job to run after `delayMs`, under the row's job id (a job already
 * there for the row makes this a no-op). For work first attempted in process, with no job,
 * that is to be tried again after a backoff.
 */
export async function enqueueLater(queues: Queues, row: OutboxRow, delayMs: number): Promise<void> {
  const { topic, name, data, opts } = jobOf(row)
  await (queues[topic] as Queue).add(name, data, { ...opts, delay: delayMs })
}

export interface SweepResult {
  /** pending rows looked at */
  checked: number
  /** rows whose job was missing from Redis and has been added again */
  enqueued: number
  /** where the next sweep should carry on (0: this pass reached the end) */
  nextAfterId: number
}

/**
 * Finds outbox rows whose work is still pending `leaseMs` after they were written (or last
 * re-enqueued) and whose job is not live in Redis: the relay after commit failed (Redis
 * down, the process died between commit and relay), the job was lost (Redis flushed or
 * failed over), or Redis holds a *finished* job under the row's id. A job finishes only
 * after its work is marked done in the same transaction as the work, so a finished job
 * beside a pending row belongs to another life of the database (a restore from backup
 * brings back rows whose jobs ran after the backup was taken): it is removed and the row
 * enqueued again, or BullMQ would take the new add for a duplicate. Re-enqueued rows are
 * stamped relayed_at. Rows whose job is still queued (a backlog) are only read, so a large
 * backlog costs one look-up per row per sweep, not a write and a queue add.
 *
 * Rows are visited in id order, each once per pass (keyset paging from `afterId`); a pass
 * stops after `maxRows` rows (or when `stopping` says so, at shutdown) and the next sweep
 * carries on from `nextAfterId`. No locks are
 * taken: two sweepers adding the same job collapse on its job id, and a job that runs twice
 * finds its work done (routing and delivery are idempotent).
 */
export async function sweepOutbox(
  db: Db,
  queues: Queues,
  redis: Redis,
  leaseMs: number,
  opts: { afterId?: number; maxRows?: number; pageSize?: number; stopping?: () => boolean } = {}
): Promise<SweepResult> {
  const pageSize = opts.pageSize ?? 500
  const maxRows = opts.maxRows ?? Number.POSITIVE_INFINITY
  let afterId = opts.afterId ?? 0
  let checked = 0
  let enqueued = 0
  for (;;) {
    const { rows } = await db.query<OutboxRow>(
      `select id, topic, payload, job_key from outbox
        where done_at is null and id > $1
          and coalesce(relayed_at, created_at) <= clock_timestamp() - make_interval(secs => $2::float8 / 1000)
        order by id limit $3`,
      [afterId, leaseMs, pageSize]
    )
    if (!rows.length) return { checked, enqueued, nextAfterId: 0 }
    const states = await jobStates(queues, redis, rows)
    const missing = rows.filter((_, i) => states[i] !== 'live')
    const stale = rows.filter((_, i) => states[i] === 'finished')
    if (stale.length) await Promise.all(stale.map((r) => queues[r.topic].remove(outboxJobId(r))))
    if (missing.length) {
      await enqueueMany(queues, missing)
      await db.query('update outbox set relayed_at = clock_timestamp() where id = any($1::bigint[]) and done_at is null', [missing.map((r) => r.id)])
      enqueued += missing.length
    }
    checked += rows.length
    afterId = Number(rows[rows.length - 1]!.id)
    if (rows.length < pageSize) return { checked, enqueued, nextAfterId: 0 }
    if (checked >= maxRows || opts.stopping?.()) return { checked, enqueued, nextAfterId: afterId }
  }
}

/**
 * For each row's job: 'live' (waiting, active or delayed), 'finished' (completed or failed,
 * still kept by Redis) or 'absent'. One pipelined round trip: the job hash and its
 * finishedOn field, which BullMQ sets when a job completes or fails for good.
 */
async function jobStates(queues: Queues, redis: Redis, rows: OutboxRow[]): Promise<Array<'live' | 'finished' | 'absent'>> {
  const pipe = redis.pipeline()
  for (const r of rows) {
    const key = queues[r.topic].toKey(outboxJobId(r))
    pipe.exists(key)
    pipe.hexists(key, 'finishedOn')
  }
  const replies = (await pipe.exec()) ?? []
  return rows.map((_, i) => {
    const [errA, exists] = replies[2 * i] ?? [new Error('no reply'), 0]
    const [errB, finished] = replies[2 * i + 1] ?? [new Error('no reply'), 0]
    if (errA) throw errA
    if (errB) throw errB
    return exists !== 1 ? 'absent' : finished === 1 ? 'finished' : 'live'
  })
}

/**
 * Hands to the queue the outbox rows that nothing relays after commit: those a trigger
 * writes (webhook events fanned out from case events) and those an operator's command writes
 * without a queue at hand (erasure notices from the CLI). Each once (stamped relayed_at); a
 * row relayed twice collapses on its job id. Returns how many.
 */
export async function relayFresh(db: Db, queues: Queues): Promise<number> {
  const { rows } = await db.query<OutboxRow>({
    name: 'outbox-fresh',
    text: `update outbox set relayed_at = clock_timestamp()
            where id in (select id from outbox where topic in ('webhook:send', 'erasure:notify') and done_at is null and relayed_at is null order by id limit 500)
           returning id, topic, payload, job_key`
  })
  if (rows.length) await enqueueMany(queues, rows)
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

/**
 * Sweeps at once (a whole pass, catching up after a restart), then every `intervalMs`,
 * looking at no more than `maxRowsPerSweep` rows each time and carrying on where the last
 * sweep stopped, so a large backlog is covered over a few sweeps at a bounded cost.
 */
export function startSweeper(
  db: Db,
  queues: Queues,
  redis: Redis,
  opts: { intervalMs: number; leaseMs: number; log: Log; maxRowsPerSweep?: number; freshEveryMs?: number }
): Sweeper {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  let stopped = false
  let lastPrune = 0
  let afterId = 0
  const tick = async (leaseMs: number, maxRows: number) => {
    try {
      const res = await sweepOutbox(db, queues, redis, leaseMs, { afterId, maxRows, stopping: () => stopped })
      afterId = res.nextAfterId
      if (res.enqueued) opts.log.info({ count: res.enqueued, checked: res.checked }, 'outbox sweep re-enqueued pending work')
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
      running = tick(opts.leaseMs, opts.maxRowsPerSweep ?? 5_000).finally(schedule)
    }, opts.intervalMs)
    timer.unref()
  }
  // at start, one whole pass over everything pending: catching up after a crash or restart
  running = tick(0, Number.POSITIVE_INFINITY).finally(schedule)
  // rows written by triggers, every second: a council's webhook should not wait for the sweep
  // (one that is stamped and then lost in Redis is found by the sweep after its lease)
  let fresh: Promise<unknown> = Promise.resolve()
  const freshTimer = setInterval(() => {
    fresh = relayFresh(db, queues).catch((err: Error) => opts.log.warn({ err: { message: err.message } }, 'relaying new webhook events failed; the sweep will'))
  }, opts.freshEveryMs ?? 1_000)
  freshTimer.unref()
  return {
    async stop() {
      stopped = true
      clearInterval(freshTimer)
      if (timer) clearTimeout(timer)
      await running
      await fresh
    }
  }
}
