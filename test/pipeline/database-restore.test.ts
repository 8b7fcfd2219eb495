import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { sweepOutbox } from '../../src/jobs/outbox-relay.js'
import { outboxJobId } from '../../src/jobs/queues.js'
import { startWorkers } from '../../workers/index.js'
import { bootInfra, createTestContext, deleteQueueKeys, dropDatabase, postContact, waitPlaced, type TestContext } from '../helpers/context.js'
import { contactBody } from '../helpers/pipeline.js'

// Redis outlives the database: Postgres restored from a backup, or dropped and created
// again, while Redis keeps its queues. Work of the database's new life must never be taken
// for a duplicate of a job from its old one.

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})

async function postAndRoute(app: TestContext['app'], count: number, from: number) {
  const references: string[] = []
  for (let i = 0; i < count; i++) {
    const res = await app.inject({ method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(contactBody(from + i)) })
    expect(res.statusCode, res.body).toBe(202)
    references.push((res.json() as { reference: string }).reference)
  }
  return references
}

describe('after the database is dropped and created again on the same Redis', () => {
  it('routes every new contact within seconds, as on a fresh install', async () => {
    // the first life: contacts routed, their finished jobs kept by Redis
    const life = await createTestContext()
    const workers = await startWorkers(life.infra)
    const first = await postAndRoute(life.app, 10, 0)
    for (const ref of first) expect(['routed', 'with_back_office']).toContain((await waitPlaced(life, ref)).status)
    const finished = await life.infra.queues['case:route'].getJobCounts('completed')
    expect(finished.completed).toBeGreaterThanOrEqual(10)

    // stop the app and workers, drop the database, and create it again; Redis is left alone
    const { config, log } = life.infra
    await life.app.close()
    await workers.close()
    await life.infra.close()
    await dropDatabase(config.DATABASE_URL)

    // the second life, started as npm start would
    const infra = await bootInfra(config, log)
    const app = await buildApp(infra)
    const second = await startWorkers(infra)
    try {
      const started = Date.now()
      const refs = await postAndRoute(app, 20, 100)
      const routed = async (ref: string) => (await infra.db.query('select 1 from cases where reference = $1 and routed_at is not null', [ref])).rowCount
      for (const ref of refs) {
        await expect.poll(() => routed(ref), { timeout: 5_000, interval: 50 }).toBe(1)
      }
      expect(Date.now() - started).toBeLessThan(10_000)
    } finally {
      await app.close()
      await second.close()
      await deleteQueueKeys(infra, config.QUEUE_PREFIX)
      await infra.close()
      await dropDatabase(config.DATABASE_URL)
    }
  })
})

describe('a backup restored while Redis kept the jobs that ran after it was taken', () => {
  it('routes again a case whose row is pending though Redis holds its finished job', async () => {
    const res = await postContact(ctx, contactBody(1))
    const { reference } = res.json() as { reference: string }
    await ctx.startWorkers()
    const placed = await waitPlaced(ctx, reference)
    const [row] = await ctx.query<{ id: number; job_key: string; topic: string; payload: Record<string, number> }>(
      `select id, job_key, topic, payload from outbox where topic = 'case:route' and payload->>'case_id' = $1`,
      [String(placed.id)]
    )
    const job = await ctx.infra.queues['case:route'].getJob(outboxJobId(row!))
    await expect.poll(async () => (await job?.isCompleted()) ?? (await ctx.infra.queues['case:route'].getJob(outboxJobId(row!)))?.isCompleted()).toBe(true)

    // the restored database is from before the case was routed: the case received, its row pending
    await ctx.query(`update outbox set done_at = null where id = $1`, [row!.id])
    await ctx.query(`delete from outbox where topic = 'case:deliver' and payload->>'delivery_id' in (select id::text from deliveries where case_id = $1)`, [placed.id])
    await ctx.query(`delete from deliveries where case_id = $1`, [placed.id])
    await ctx.query(`update cases set status = 'received', council_gss = null, team = null, destination_id = null, routed_at = null where id = $1`, [placed.id])

    const pass = await sweepOutbox(ctx.infra.db, ctx.infra.queues, ctx.infra.redis, 0)
    expect(pass.enqueued).toBeGreaterThanOrEqual(1)
    await expect.poll(async () => (await ctx.query('select 1 from cases where id = $1 and routed_at is not null', [placed.id])).length, { timeout: 5_000 }).toBe(1)
    expect(await ctx.query('select 1 from deliveries where case_id = $1', [placed.id])).toHaveLength(1)
  })
})
