import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRetentionQueue, queueRetentionRun, RETENTION_SCHEDULER } from '../../src/jobs/queues.js'
import { createRedis } from '../../src/infra.js'
import { startRetention } from '../../workers/retention.js'
import { createTestContext, deleteQueueKeys, OPERATOR_KEY, waitFor, type TestContext } from '../helpers/context.js'
import { WESTMINSTER } from '../helpers/councils.js'

// The operator API for schedules and runs, and the workers' repeatable retention job.

let ctx: TestContext
beforeAll(async () => {
  // the default: a run every 60 minutes, the first as the workers start
  ctx = await createTestContext({}, { mail: 'demo', workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

function call(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown, key: string | null = OPERATOR_KEY) {
  return ctx.app.inject({
    method,
    url,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) })
  })
}

const schedules = () => ctx.query<{ record_class: string; council_gss: string | null; keep_days: number; updated_by: string }>(
  'select record_class, council_gss, keep_days, updated_by from retention_schedules order by record_class, council_gss nulls first'
)

interface Listed {
  classes: Array<{ record_class: string; keep_days: number; holds: string; counted_from: string; per_council: boolean; updated_by: string }>
  councils: Array<{ record_class: string; council_gss: string; council_name: string; keep_days: number }>
}

describe('retention schedules through the operator API', () => {
  it('lists the defaults for every record class, with what each holds and its clock', async () => {
    const res = await call('GET', '/v1/admin/retention/schedules')
    expect(res.statusCode, res.body).toBe(200)
    const listed = res.json() as Listed
    expect(listed.classes.map((c) => [c.record_class, c.keep_days])).toEqual([
      ['raw', 90],
      ['content', 730],
      ['case', 2190],
      ['delivery', 365],
      ['resident', 90],
      ['access_log', 730]
    ])
    for (const c of listed.classes) {
      expect(c.holds.length, c.record_class).toBeGreaterThan(20)
      expect(c.counted_from.length, c.record_class).toBeGreaterThan(5)
    }
    expect(listed.classes.find((c) => c.record_class === 'resident')!.per_council).toBe(false)
    expect(listed.councils).toEqual([])
  })

  it('PUT sets a default and a council’s own schedule, GET shows them, DELETE gives the council the default again', async () => {
    const byDefault = await call('PUT', '/v1/admin/retention/schedules', { record_class: 'content', keep_days: 400 })
    expect(byDefault.statusCode, byDefault.body).toBe(200)
    expect(byDefault.json()).toMatchObject({ record_class: 'content', council_gss: null, keep_days: 400, updated_by: 'operator' })
    const own = await call('PUT', '/v1/admin/retention/schedules', { record_class: 'content', keep_days: 1000, council_gss: WESTMINSTER })
    expect(own.statusCode, own.body).toBe(200)
    expect(own.json()).toMatchObject({ record_class: 'content', council_gss: WESTMINSTER, council_name: 'Westminster City Council', keep_days: 1000 })
    // a second PUT changes the same row
    expect((await call('PUT', '/v1/admin/retention/schedules', { record_class: 'content', keep_days: 1100, council_gss: WESTMINSTER })).statusCode).toBe(200)

    const listed = (await call('GET', '/v1/admin/retention/schedules')).json() as Listed
    expect(listed.classes.find((c) => c.record_class === 'content')).toMatchObject({ keep_days: 400, updated_by: 'operator' })
    expect(listed.councils).toEqual([expect.objectContaining({ record_class: 'content', council_gss: WESTMINSTER, keep_days: 1100 })])
    expect((await schedules()).filter((s) => s.record_class === 'content')).toEqual([
      { record_class: 'content', council_gss: null, keep_days: 400, updated_by: 'operator' },
      { record_class: 'content', council_gss: WESTMINSTER, keep_days: 1100, updated_by: 'operator' }
    ])

    const removed = await call('DELETE', `/v1/admin/retention/schedules/content?council=${WESTMINSTER}`)
    expect(removed.statusCode, removed.body).toBe(204)
    expect(((await call('GET', '/v1/admin/retention/schedules')).json() as Listed).councils).toEqual([])
    const again = await call('DELETE', `/v1/admin/retention/schedules/content?council=${WESTMINSTER}`)
    expect(again.statusCode).toBe(404)
    expect(again.json()).toMatchObject({ code: 'not_found', field: 'council' })
  })

  it('refuses what it cannot do with a clear error, changing nothing', async () => {
    const before = await schedules()
    const cases: Array<[string, () => ReturnType<typeof call>, number, Record<string, unknown>]> = [
      ['an unknown council', () => call('PUT', '/v1/admin/retention/schedules', { record_class: 'raw', keep_days: 30, council_gss: 'E99999999' }), 422, { code: 'unknown_council', field: 'council_gss' }],
      ["a council's own resident schedule", () => call('PUT', '/v1/admin/retention/schedules', { record_class: 'resident', keep_days: 30, council_gss: WESTMINSTER }), 400, { code: 'validation_failed', field: 'council_gss' }],
      ['an unknown class', () => call('PUT', '/v1/admin/retention/schedules', { record_class: 'everything', keep_days: 30 }), 400, { code: 'validation_failed', field: 'record_class' }],
      ['no days', () => call('PUT', '/v1/admin/retention/schedules', { record_class: 'raw', keep_days: 0 }), 400, { code: 'validation_failed', field: 'keep_days' }],
      ['removing the default', () => call('DELETE', '/v1/admin/retention/schedules/raw'), 400, { code: 'validation_failed', field: 'council' }],
      ['no operator key', () => call('PUT', '/v1/admin/retention/schedules', { record_class: 'raw', keep_days: 1 }, null), 401, { code: 'unauthorized' }]
    ]
    for (const [what, send, status, body] of cases) {
      const res = await send()
      expect(res.statusCode, `${what}: ${res.body}`).toBe(status)
      expect(res.json(), what).toMatchObject(body)
    }
    expect(await schedules()).toEqual(before)
  })

  it('is in the OpenAPI document under data protection, behind the operator key', async () => {
    const doc = (await ctx.app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { tags?: string[]; security?: unknown[]; summary?: string }>> }
    for (const [path, method] of [
      ['/v1/admin/retention/schedules', 'get'],
      ['/v1/admin/retention/schedules', 'put'],
      ['/v1/admin/retention/schedules/{record_class}', 'delete'],
      ['/v1/admin/retention/run', 'post'],
      ['/v1/admin/retention/runs', 'get'],
      ['/v1/admin/reports/cases', 'get']
    ] as const) {
      const op = doc.paths[path]?.[method]
      expect(op, `${method} ${path}`).toBeDefined()
      expect(op!.tags).toEqual(['data protection'])
      expect(op!.security).toEqual([{ operatorKey: [] }])
      expect(op!.summary).toBeTruthy()
    }
  })
})

describe('the retention job', () => {
  it('is a repeatable BullMQ job every RETENTION_EVERY_MINUTES, which ran as the workers started', async () => {
    const queue = createRetentionQueue(ctx.infra.redis, ctx.config.QUEUE_PREFIX)
    try {
      const found = await queue.getJobSchedulers()
      expect(found).toEqual([expect.objectContaining({ key: RETENTION_SCHEDULER, every: 60 * 60_000 })])
      expect(found[0]!.next).toBeGreaterThan(Date.now())
    } finally {
      await queue.close()
    }
    const first = await waitFor(() => ctx.query<{ id: number }>('select id from retention_runs where finished_at is not null').then((r) => r[0]), 15_000, 'the first scheduled run')
    expect(first.id).toBeGreaterThan(0)
  })

  it('POST /v1/admin/retention/run queues a run that the workers finish; GET /runs shows it with its counts', async () => {
    const res = await call('POST', '/v1/admin/retention/run')
    expect(res.statusCode, res.body).toBe(202)
    expect(res.json()).toMatchObject({ status: 'queued', job_id: expect.any(String) })
    const queue = createRetentionQueue(ctx.infra.redis, ctx.config.QUEUE_PREFIX)
    const run = await waitFor(async () => {
      // the job as read can predate its completion (its return value not yet in the read),
      // so it is read again once its state says completed
      const job = await queue.getJob(res.json().job_id)
      if (!job || (await job.getState()) !== 'completed') return null
      const done = (await queue.getJob(res.json().job_id))?.returnvalue as { runId: number } | null | undefined
      return done ? { id: done.runId } : null
    }, 15_000, 'the requested run').finally(() => queue.close())
    const runs = await call('GET', '/v1/admin/retention/runs?limit=5')
    expect(runs.statusCode, runs.body).toBe(200)
    const listed = runs.json() as Array<{ id: number; finished_at: string | null; as_of: string; counts: Record<string, unknown> }>
    expect(listed[0]).toMatchObject({ id: run.id, counts: { raw: 0, content: 0, case: 0, delivery: 0, resident: 0, access_log: 0 } })
    expect(listed[0]!.finished_at).not.toBeNull()
    expect(listed.map((r) => r.id)).toEqual([...listed.map((r) => r.id)].sort((a, b) => b - a))
  })

  it('with RETENTION_EVERY_MINUTES=0 the scheduler is removed, and a run asked for is still taken', async () => {
    // a queue prefix of its own, so the file's workers (every 60 minutes) take none of these jobs
    const prefix = `${ctx.config.QUEUE_PREFIX}-off`
    const connection = createRedis(ctx.config.REDIS_URL, true)
    await connection.connect()
    const queue = createRetentionQueue(ctx.infra.redis, prefix)
    try {
      const on = await startRetention({ ...ctx.infra, config: { ...ctx.config, QUEUE_PREFIX: prefix, RETENTION_EVERY_MINUTES: 5 } }, connection)
      await on.close()
      expect(await queue.getJobSchedulers()).toEqual([expect.objectContaining({ key: RETENTION_SCHEDULER, every: 5 * 60_000 })])
      const off = await startRetention({ ...ctx.infra, config: { ...ctx.config, QUEUE_PREFIX: prefix, RETENTION_EVERY_MINUTES: 0 } }, connection)
      try {
        expect(await queue.getJobSchedulers()).toEqual([])
        // this very job, not one the scheduler added before it was removed
        const jobId = await queueRetentionRun(queue)
        const done = await waitFor(async () => {
          const job = await queue.getJob(jobId)
          return job && (await job.getState()) === 'completed' ? (job.returnvalue as { runId: number }) : null
        }, 15_000, 'the requested run')
        expect(await ctx.query('select 1 from retention_runs where id = $1 and finished_at is not null', [done.runId])).toHaveLength(1)
      } finally {
        await off.close()
      }
    } finally {
      await queue.close()
      await connection.quit()
      await deleteQueueKeys(ctx.infra, prefix)
    }
  })
})
