import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPool, type Db } from '../../src/db/pool.js'
import { createTestContext, type TestContext } from '../helpers/context.js'

// The workers' statements each place, claim or settle a batch, as named prepared
// statements. Postgres settles on one generic plan per prepared statement after its fifth
// run, made for the tables as they were then, and keeps it for the connection's life unless
// an ANALYZE invalidates it. Where nothing analyzes the tables (autovacuum off, as on the CI
// machines), a plan made while a table was young stays a whole-table scan as the table
// grows: the route write went from 0.3 to 1.1 ms per case that way. The workers' pool plans
// each statement for its own values instead.

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})

/** The plan of a statement prepared and run ten times while the table was small, asked for again once it has grown. */
async function planAfterGrowth(db: Db, table: string): Promise<string> {
  await ctx.query(`create table ${table} (id bigint primary key, v text)`)
  await ctx.query(`insert into ${table} select i, 'x' from generate_series(1, 10) as i`)
  const client = await db.connect()
  try {
    await client.query(`prepare probe (jsonb, bigint[]) as
      select t.v from jsonb_to_recordset($1) as x (id bigint) join ${table} t on t.id = x.id where t.id = any($2)`)
    for (let i = 0; i < 10; i++) await client.query(`execute probe ('[{"id": 1}, {"id": 2}]', '{1,2}')`)
    await ctx.query(`insert into ${table} select i, 'x' from generate_series(11, 50000) as i`)
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain execute probe ('[{"id": 1}, {"id": 2}]', '{1,2}')`)
    return rows.map((r) => r['QUERY PLAN']).join('\n')
  } finally {
    client.release()
    await ctx.query(`drop table ${table}`)
  }
}

describe("the workers' Postgres pool", () => {
  it('plans every statement for its own values, so a table grown since its first runs is read by its index', async () => {
    const timeouts = { statementTimeoutMs: 10_000, lockTimeoutMs: 5_000 }
    const custom = createPool({ DATABASE_URL: ctx.config.DATABASE_URL, DATABASE_POOL_SIZE: 1 }, 'plans-custom', { ...timeouts, customPlans: true })
    const usual = createPool({ DATABASE_URL: ctx.config.DATABASE_URL, DATABASE_POOL_SIZE: 1 }, 'plans-usual', timeouts)
    try {
      expect((await custom.query<{ plan_cache_mode: string }>('show plan_cache_mode')).rows[0]!.plan_cache_mode).toBe('force_custom_plan')
      expect((await usual.query<{ plan_cache_mode: string }>('show plan_cache_mode')).rows[0]!.plan_cache_mode).toBe('auto')
      const plan = await planAfterGrowth(custom, 'plan_probe')
      // planned with the values themselves, not a generic plan's $1 and $2
      expect(plan).toContain(`'{1,2}'`)
      expect(plan).not.toMatch(/\$\d/)
      expect(plan).toMatch(/Index/)
      expect(plan).not.toMatch(/Seq Scan on plan_probe/)
    } finally {
      await Promise.all([custom.end(), usual.end()])
    }
  })
})
