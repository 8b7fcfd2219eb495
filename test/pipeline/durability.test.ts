import { randomBytes } from 'node:crypto'
import { Queue, type ConnectionOptions } from 'bullmq'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { idempotencyId } from '../../src/intake/idempotency.js'
import { sweepOutbox } from '../../src/jobs/outbox-relay.js'
import { queueName } from '../../src/jobs/queues.js'
import { createPool, type Db } from '../../src/db/pool.js'
import type { Workers } from '../../workers/index.js'
import { createTestContext, deleteQueueKeys, dropDatabase, postContact, waitFor, type TestContext } from '../helpers/context.js'
import { contactBody, PLACES, tableCounts, uid } from '../helpers/pipeline.js'
import { exitOf, freePort, killIfAlive, spawnTs, type Spawned } from '../helpers/processes.js'
import { HINCKLEY } from '../helpers/councils.js'

let ctx: TestContext
beforeAll(async () => {
  // no workers: each test decides when work may run
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})

/** Posts `n` routable contacts; returns reference → the council it must end up with. */
async function postMany(n: number, offset = 0): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (let i = offset; i < offset + n; i++) {
    const res = await postContact(ctx, contactBody(i))
    expect(res.statusCode, res.body).toBe(202)
    out.set((res.json() as { reference: string }).reference, PLACES[i % PLACES.length]!.council)
  }
  return out
}

interface CaseSummary {
  reference: string
  status: string
  council_gss: string | null
  routed_events: number
  delivered_events: number
  deliveries: number
}

async function summarise(query: (sql: string, params: unknown[]) => Promise<CaseSummary[]>, references: string[]) {
  return query(
    `select c.reference, c.status, c.council_gss,
            (select count(*) from case_events e where e.case_id = c.id and e.type = 'case.routed')::int as routed_events,
            (select count(*) from case_events e where e.case_id = c.id and e.type = 'delivery.succeeded')::int as delivered_events,
            (select count(*) from deliveries d where d.case_id = c.id)::int as deliveries
       from cases c where c.reference = any($1::text[]) order by c.reference`,
    [references]
  )
}

/** Waits until every case has been handed to its back office, then returns them all. */
async function waitAllDelivered(expected: Map<string, string>, timeoutMs = 20_000) {
  const refs = [...expected.keys()]
  await waitFor(
    async () => {
      const rows = await summarise((sql, p) => ctx.query<CaseSummary>(sql, p), refs)
      return rows.length === refs.length && rows.every((r) => r.status === 'with_back_office')
    },
    timeoutMs,
    `${refs.length} cases to reach their back office`
  )
  return summarise((sql, p) => ctx.query<CaseSummary>(sql, p), refs)
}

/** Each case routed once, to the right council, with one delivery made once. */
function expectEachOnce(rows: CaseSummary[], expected: Map<string, string>) {
  expect(rows).toHaveLength(expected.size)
  for (const row of rows) {
    expect(row, row.reference).toMatchObject({
      status: 'with_back_office',
      council_gss: expected.get(row.reference),
      routed_events: 1,
      deliveries: 1,
      delivered_events: 1
    })
  }
}

const routeQueue = () => ctx.infra.queues['case:route']

async function waitQueued(n: number) {
  // the relay after commit is fire-and-forget: wait until every job has reached Redis
  await waitFor(async () => (await routeQueue().getJobCounts('waiting')).waiting === n, 5_000, `${n} route jobs waiting in Redis`)
}

async function pendingOutbox(): Promise<number> {
  const [row] = await ctx.query<{ n: number }>('select count(*)::int as n from outbox where done_at is null')
  return row!.n
}

/** Runs the workers until each expected case is with its back office, routed and delivered once; then nothing is pending. */
async function routeEachOnce(expected: Map<string, string>) {
  let workers: Workers | undefined
  try {
    workers = await ctx.startWorkers()
    expectEachOnce(await waitAllDelivered(expected), expected)
  } finally {
    await workers?.close()
  }
  expect(await pendingOutbox()).toBe(0)
}

describe('losing Redis loses no work', () => {
  it('routes every case exactly once when Redis is flushed while 30 cases are waiting to be routed', async () => {
    const expected = await postMany(30)
    await waitQueued(30)
    // the per-prefix FLUSHALL: every job, every BullMQ key of this deployment, gone
    await deleteQueueKeys(ctx.infra, ctx.config.QUEUE_PREFIX)
    expect((await routeQueue().getJobCounts('waiting')).waiting).toBe(0)
    expect(await ctx.infra.redis.keys(`${ctx.config.QUEUE_PREFIX}:*`)).toEqual([])
    expect(await pendingOutbox()).toBe(30)
    await routeEachOnce(expected)
  })

  it('routes the rest exactly once, and the done ones not again, when Redis is flushed after some were routed', async () => {
    let workers: Workers | undefined
    let first: Map<string, string>
    try {
      workers = await ctx.startWorkers()
      first = await postMany(10)
      await waitAllDelivered(first)
    } finally {
      await workers?.close()
    }

    const second = await postMany(10, 10)
    await waitQueued(10)
    await deleteQueueKeys(ctx.infra, ctx.config.QUEUE_PREFIX)
    expect((await routeQueue().getJobCounts('waiting')).waiting).toBe(0)
    await routeEachOnce(new Map([...first, ...second]))
  })

  it('routes jobs in hand exactly once when Redis is flushed under running workers, and keeps taking new work', async () => {
    const held = await postMany(4, 20)
    await waitQueued(4)
    // hold the cases so the workers take the jobs and cannot finish them yet
    const lock = new pg.Client({ connectionString: ctx.config.DATABASE_URL })
    await lock.connect()
    let workers: Workers | undefined
    try {
      await lock.query('begin')
      await lock.query('select id from cases where reference = any($1::text[]) for update', [[...held.keys()]])
      workers = await ctx.startWorkers()
      await waitFor(async () => (await routeQueue().getJobCounts('active')).active === 4, 5_000, 'the workers to take the 4 jobs')
      await deleteQueueKeys(ctx.infra, ctx.config.QUEUE_PREFIX)
      await lock.query('commit')

      const later = await postMany(3, 24)
      const all = new Map([...held, ...later])
      expectEachOnce(await waitAllDelivered(all), all)
    } finally {
      await lock.end()
      await workers?.close()
    }
    expect(await pendingOutbox()).toBe(0)
  })
})

describe('the outbox sweeper', () => {
  it('re-enqueues only the jobs Redis lost, visits each pending row once per pass, and leaves a queued backlog alone', async () => {
    const expected = await postMany(12, 40)
    await waitQueued(12)
    const waiting = await routeQueue().getJobs(['waiting'])
    const lost = waiting.slice(0, 3)
    for (const job of lost) await job.remove()
    expect((await routeQueue().getJobCounts('waiting')).waiting).toBe(9)
    const adds = await ctx.query<{ n: number }>('select count(*)::int as n from outbox where relayed_at is not null')

    // a restart's catch-up pass over everything pending, in small pages
    const pass = await sweepOutbox(ctx.infra.db, ctx.infra.queues, ctx.infra.redis, 0, { pageSize: 5 })
    expect(pass).toEqual({ checked: 12, enqueued: 3, nextAfterId: 0 })
    expect((await routeQueue().getJobCounts('waiting')).waiting).toBe(12)
    const restamped = await ctx.query<{ n: number }>('select count(*)::int as n from outbox where relayed_at is not null')
    expect(restamped[0]!.n - adds[0]!.n).toBe(3)

    // the backlog is queued: another pass only looks, and a bounded sweep stops part way
    expect(await sweepOutbox(ctx.infra.db, ctx.infra.queues, ctx.infra.redis, 0, { pageSize: 5 })).toEqual({ checked: 12, enqueued: 0, nextAfterId: 0 })
    const first = await sweepOutbox(ctx.infra.db, ctx.infra.queues, ctx.infra.redis, 0, { pageSize: 5, maxRows: 5 })
    expect(first).toMatchObject({ checked: 5, enqueued: 0 })
    expect(first.nextAfterId).toBeGreaterThan(0)
    const rest = await sweepOutbox(ctx.infra.db, ctx.infra.queues, ctx.infra.redis, 0, { pageSize: 5, afterId: first.nextAfterId })
    expect(rest).toEqual({ checked: 7, enqueued: 0, nextAfterId: 0 })
    // rows younger than the lease are the fast path's business: not even looked at
    expect(await sweepOutbox(ctx.infra.db, ctx.infra.queues, ctx.infra.redis, 60_000)).toEqual({ checked: 0, enqueued: 0, nextAfterId: 0 })
    await routeEachOnce(expected)
  })
})

describe('a process killed between accepting and routing', () => {
  it('loses no accepted contact: a fresh workers process routes each exactly once, then stops cleanly on SIGTERM', async () => {
    const id = randomBytes(5).toString('hex')
    const databaseUrl = `postgres://postgres@127.0.0.1:5432/sb_test_${id}`
    const prefix = `sbtest-${id}`
    const port = await freePort()
    const settings = {
      DATABASE_URL: databaseUrl,
      QUEUE_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      OPERATOR_API_KEY: 'x'.repeat(20)
    }
    let api: Spawned | undefined
    let workers: Spawned | undefined
    let db: Db | undefined
    try {
      // the API alone: it creates, migrates and seeds its database, accepts, and never routes
      api = spawnTs('src/main.ts', ['api'], settings)
      const base = `http://127.0.0.1:${port}`
      const spawnedApi = api
      await waitFor(
        async () => {
          if (!spawnedApi.alive()) throw new Error(`the API process exited\n${spawnedApi.output()}`)
          return fetch(`${base}/ready`).then((r) => r.status === 200, () => false)
        },
        45_000,
        'the API process to be ready'
      )

      const references: string[] = []
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${base}/v1/contacts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(contactBody(i))
        })
        expect(res.status, await res.clone().text()).toBe(202)
        references.push(((await res.json()) as { reference: string }).reference)
      }

      api.proc.kill('SIGKILL')
      expect((await exitOf(api)).signal).toBe('SIGKILL')
      // and whatever it had handed to Redis is lost too: only the outbox can save the cases
      await deleteQueueKeys(ctx.infra, prefix)

      db = createPool({ DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: 2 })
      const pool = db
      const query = async <T,>(sql: string, params: unknown[]) => (await pool.query(sql, params)).rows as T[]
      const before = await summarise(query<CaseSummary>, references)
      expect(before).toHaveLength(references.length)
      expect(before.every((r) => r.status === 'received')).toBe(true)

      workers = spawnTs('src/main.ts', ['workers'], settings)
      const spawnedWorkers = workers
      await waitFor(
        async () => {
          if (!spawnedWorkers.alive()) throw new Error(`the workers process exited\n${spawnedWorkers.output()}`)
          const rows = await summarise(query<CaseSummary>, references)
          return rows.every((r) => r.status === 'routed' || r.status === 'with_back_office')
        },
        45_000,
        'the workers process to route every accepted case'
      )
      // a duplicate would have to be a route job still to run: count once no route work is
      // left, pending in Postgres or waiting, delayed or running in Redis
      const routeJobs = new Queue(queueName('case:route'), { connection: ctx.infra.redis as unknown as ConnectionOptions, prefix })
      try {
        await waitFor(
          async () => {
            if ((await query(`select 1 from outbox where topic = 'case:route' and done_at is null limit 1`, [])).length) return false
            const counts = await routeJobs.getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'waiting-children')
            return Object.values(counts).every((n) => n === 0)
          },
          20_000,
          'route work to be finished'
        )
      } finally {
        await routeJobs.close()
      }
      const after = await summarise(query<CaseSummary>, references)
      for (const row of after) {
        expect(row.routed_events, row.reference).toBe(1)
        expect(row.deliveries, row.reference).toBe(1)
        expect(row.council_gss, row.reference).toBe(PLACES[references.indexOf(row.reference) % PLACES.length]!.council)
      }

      workers.proc.kill('SIGTERM')
      const exit = await exitOf(workers, 20_000)
      expect(exit, workers.output()).toEqual({ code: 0, signal: null })
    } finally {
      await killIfAlive(api)
      await killIfAlive(workers)
      await db?.end()
      await deleteQueueKeys(ctx.infra, prefix)
      await dropDatabase(databaseUrl)
    }
  }, 120_000)
})

describe('Idempotency-Key across the pipeline', () => {
  it('stores and routes a retried submission once, and refuses the key for a different body', async () => {
    const key = `retry-${uid()}`
    const body = contactBody(0, { description: 'Bin missed again' })
    const first = await postContact(ctx, body, { 'idempotency-key': key })
    const second = await postContact(ctx, body, { 'idempotency-key': key })
    expect(first.statusCode, first.body).toBe(202)
    expect(second.statusCode, second.body).toBe(202)
    const reference = (first.json() as { reference: string }).reference
    expect((second.json() as { reference: string }).reference).toBe(reference)
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    expect(second.headers['idempotent-replayed']).toBe('true')

    const stored = async () => ({
      cases: (await ctx.query('select 1 from cases c join contact_points cp on cp.resident_id = c.resident_id where cp.value = $1', [body.email])).length,
      raw: (await ctx.query(`select 1 from raw_inbound where provider = 'web' and provider_message_id = $1`, [idempotencyId(key, { apiKey: null, email: body.email, phone: null })])).length,
      messages: (await ctx.query('select 1 from messages m join cases c on c.id = m.case_id where c.reference = $1', [reference])).length
    })
    expect(await stored()).toEqual({ cases: 1, raw: 1, messages: 1 })

    let workers: Workers | undefined
    try {
      workers = await ctx.startWorkers()
      const rows = await waitAllDelivered(new Map([[reference, HINCKLEY]]))
      expectEachOnce(rows, new Map([[reference, HINCKLEY]]))
    } finally {
      await workers?.close()
    }

    const counts = await tableCounts(ctx, ['cases', 'raw_inbound', 'messages', 'residents', 'case_events', 'outbox'])
    const reused = await postContact(ctx, { ...body, description: 'Something else entirely' }, { 'idempotency-key': key })
    expect(reused.statusCode, reused.body).toBe(422)
    expect(reused.json()).toMatchObject({ code: 'idempotency_key_reused', field: 'idempotency-key' })
    expect(await tableCounts(ctx, Object.keys(counts))).toEqual(counts)
    expect(await stored()).toEqual({ cases: 1, raw: 1, messages: 1 })
  })

  it('makes one case of a double-click: the same key sent twice at the same moment', async () => {
    const key = `double-${uid()}`
    const body = contactBody(1, { description: 'Council tax bill is wrong' })
    const answers = await Promise.all([0, 1, 2].map(() => postContact(ctx, body, { 'idempotency-key': key })))
    for (const a of answers) expect(a.statusCode, a.body).toBe(202)
    const references = new Set(answers.map((a) => (a.json() as { reference: string }).reference))
    expect(references.size).toBe(1)
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(2)
    const [reference] = references
    expect(await ctx.query('select 1 from messages m join cases c on c.id = m.case_id where c.reference = $1', [reference])).toHaveLength(1)
    expect(await ctx.query('select 1 from cases c join contact_points cp on cp.resident_id = c.resident_id where cp.value = $1', [body.email])).toHaveLength(1)
    expect(await ctx.query(`select 1 from outbox where topic = 'case:route' and payload->>'case_id' = (select id::text from cases where reference = $1)`, [reference])).toHaveLength(1)
  })
})
