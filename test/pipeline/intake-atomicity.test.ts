import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { createPool } from '../../src/db/pool.js'
import { createTestContext, postContact, type TestContext } from '../helpers/context.js'
import { contactBody, tableCounts, uid } from '../helpers/pipeline.js'

// A contact is acknowledged only once all of it is committed; a failure writes nothing.
let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})

describe('when Postgres is down', () => {
  it('answers 503 with Retry-After and stores nothing', async () => {
    const downPool = createPool({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DATABASE_POOL_SIZE: 2 })
    const app = await buildApp({ ...ctx.infra, db: downPool })
    try {
      await app.ready()
      const counts = await tableCounts(ctx, ['cases', 'residents', 'raw_inbound', 'contact_points', 'outbox'])
      const res = await app.inject({
        method: 'POST',
        url: '/v1/contacts',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(contactBody(1, { description: 'Council tax question' }))
      })
      expect(res.statusCode, res.body).toBe(503)
      expect(res.headers['retry-after']).toMatch(/^\d+$/)
      expect(res.json()).toMatchObject({ code: 'temporarily_unavailable' })
      expect(await tableCounts(ctx, Object.keys(counts))).toEqual(counts)

      // and a load balancer asking /ready is told why
      const ready = await app.inject({ method: 'GET', url: '/ready' })
      expect(ready.statusCode).toBe(503)
      expect(ready.json()).toEqual({ status: 'unavailable', postgres: 'unreachable', redis: 'ok' })
    } finally {
      await app.close()
      await downPool.end()
    }
  })
})

describe('a transaction that fails midway', () => {
  it('leaves nothing half-written, and the same request succeeds once the fault is gone', async () => {
    await ctx.query(`create or replace function sb_test_explode() returns trigger language plpgsql as $$
      begin
        if new.body = 'explode now' then raise exception 'exploded on purpose'; end if;
        return new;
      end $$`)
    await ctx.query('create trigger sb_test_explode before insert on messages for each row execute function sb_test_explode()')
    const tables = ['raw_inbound', 'residents', 'contact_points', 'cases', 'messages', 'case_events', 'outbox']
    const key = `explode-${uid()}`
    const body = contactBody(2, { description: 'explode now' })
    try {
      const counts = await tableCounts(ctx, tables)
      const res = await postContact(ctx, body, { 'idempotency-key': key })
      expect(res.statusCode, res.body).toBeGreaterThanOrEqual(500)
      expect(res.json()).toMatchObject({ code: 'internal_error' })
      expect(res.body).not.toContain('exploded on purpose')
      expect(await tableCounts(ctx, tables)).toEqual(counts)
      expect(await ctx.query('select 1 from contact_points where value = $1', [body.email])).toHaveLength(0)
      expect(await ctx.query(`select 1 from cases where description = 'explode now'`)).toHaveLength(0)
    } finally {
      await ctx.query('drop trigger if exists sb_test_explode on messages')
    }

    // the failed attempt did not use up the key: the client's retry is accepted
    const retry = await postContact(ctx, body, { 'idempotency-key': key })
    expect(retry.statusCode, retry.body).toBe(202)
    expect(retry.headers['idempotent-replayed']).toBeUndefined()
    const reference = (retry.json() as { reference: string }).reference
    const [row] = await ctx.query<{ description: string; messages: number; outbox: number }>(
      `select c.description,
              (select count(*) from messages m where m.case_id = c.id)::int as messages,
              (select count(*) from outbox o where o.topic = 'case:route' and (o.payload->>'case_id')::bigint = c.id)::int as outbox
         from cases c where c.reference = $1`,
      [reference]
    )
    expect(row).toEqual({ description: 'explode now', messages: 1, outbox: 1 })
  })
})
