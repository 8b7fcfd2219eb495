import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { applyRetention } from '../../src/data-protection/retention.js'
import { createTestContext, postContact, type TestContext } from '../helpers/context.js'
import { exitOf, killIfAlive, spawnTs } from '../helpers/processes.js'
import { WESTMINSTER } from '../helpers/councils.js'
import { later, setSchedules } from './fixtures/retention-world.js'

// A run killed midway, and the operator CLI, each in a process of its own as in production.

// a process through tsx takes several seconds on a busy 2-core machine
const RUN_TIMEOUT_MS = 45_000
const TEST_TIMEOUT_MS = 60_000

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ RETENTION_EVERY_MINUTES: 0 }, { mail: 'demo' })
})
afterAll(async () => {
  await ctx?.close()
})

async function report(n: number, phrase: string): Promise<number[]> {
  const ids: number[] = []
  for (let i = 0; i < n; i++) {
    const res = await postContact(ctx, { name: `Kim Testperson ${i}`, email: `kim.${i}.${phrase}@example.com`, postcode: 'SW1A 1AA', service_code: 'council_tax', description: `Report ${i} ${phrase}` })
    expect(res.statusCode, res.body).toBe(202)
    ids.push((await ctx.query<{ id: number }>('select id from cases where reference = $1', [res.json().reference]))[0]!.id)
  }
  return ids
}

/** Per case: whether the case row, its events, its messages and its raw payload are each redacted. */
async function stateOf(ids: number[]) {
  return ctx.query<{ id: number; case: boolean; events: boolean; messages: boolean; raw: boolean }>(
    `select c.id, c.redacted_at is not null as case,
            bool_and(e.reason = '(redacted)' and e.data = '{}') as events,
            (select bool_and(m.redacted_at is not null) from messages m where m.case_id = c.id) as messages,
            (select bool_and(r.redacted_at is not null) from raw_inbound r where r.case_id = c.id) as raw
       from cases c join case_events e on e.case_id = c.id where c.id = any($1::bigint[]) group by c.id order by c.id`,
    [ids]
  )
}

describe('a retention run killed midway', () => {
  it('keeps the batches it committed, leaves no case half done, and the next run completes the rest', async () => {
    const ids = await report(12, 'killrun')
    await setSchedules(ctx, { case: 1 })
    const due = (await ctx.query<{ n: number }>('select count(*)::int as n from cases where redacted_at is null'))[0]!.n
    expect(due).toBeGreaterThanOrEqual(12)
    const asOf = later(2)

    const child = spawnTs('test/data-protection/fixtures/retention-child.ts', [], {
      DATABASE_URL: ctx.config.DATABASE_URL,
      RETENTION_BATCH_SIZE: '5',
      RETENTION_AS_OF: asOf.toISOString(),
      KILL_AFTER_CLASS: 'case'
    })
    try {
      const exit = await exitOf(child, RUN_TIMEOUT_MS)
      expect(exit.signal, child.output()).toBe('SIGKILL')
    } finally {
      await killIfAlive(child)
    }
    expect(child.stdout()).not.toContain('finished')

    // one batch of five, whole: each case either fully redacted or not touched at all
    const afterKill = await stateOf(ids)
    const done = afterKill.filter((c) => c.case)
    expect(done.length).toBeGreaterThan(0)
    expect(done.length).toBeLessThan(ids.length)
    for (const c of afterKill) expect(c, `case ${c.id}`).toEqual({ id: c.id, case: c.case, events: c.case, messages: c.case, raw: c.case })
    const redactedNow = (await ctx.query<{ n: number }>('select count(*)::int as n from cases where redacted_at is not null'))[0]!.n
    expect(redactedNow).toBe(5)
    // the killed run is on record, unfinished, with what it had committed
    const [killed] = await ctx.query<{ id: number; finished_at: Date | null; counts: { case: number } }>('select id, finished_at, counts from retention_runs order by id desc limit 1')
    expect(killed!.finished_at).toBeNull()
    expect(killed!.counts.case).toBe(5)

    const next = await applyRetention(ctx.infra.db, { now: asOf, batchSize: 5, log: ctx.infra.log })

    expect(next.counts).toEqual({ raw: 0, content: 0, case: due - 5, delivery: 0, resident: 0, access_log: 0 })
    expect(killed!.counts.case + next.counts.case).toBe(due)
    for (const c of await stateOf(ids)) expect(c, `case ${c.id}`).toEqual({ id: c.id, case: true, events: true, messages: true, raw: true })
    expect(await ctx.query('select 1 from cases where redacted_at is null')).toHaveLength(0)
  }, TEST_TIMEOUT_MS)
})

describe('npm run cli -- retention', () => {
  async function cli(args: string[]) {
    const child = spawnTs('src/cli/index.ts', ['retention', ...args], { DATABASE_URL: ctx.config.DATABASE_URL, RETENTION_BATCH_SIZE: '50' })
    try {
      const { code } = await exitOf(child, RUN_TIMEOUT_MS)
      return { code, stdout: child.stdout(), stderr: child.stderr() }
    } finally {
      await killIfAlive(child)
    }
  }

  it('sets a schedule, shows every schedule, refuses what it cannot set, and runs the job printing its counts', async () => {
    await setSchedules(ctx, { content: 30 })
    const own = await cli(['set', '--class', 'access_log', '--days', '400', '--council', WESTMINSTER])
    expect(own.code, own.stderr).toBe(0)
    expect(JSON.parse(own.stdout)).toMatchObject({ record_class: 'access_log', council_gss: WESTMINSTER, keep_days: 400, updated_by: 'operator:cli' })
    const byDefault = await cli(['set', '--class', 'content', '--days', '1'])
    expect(byDefault.code, byDefault.stderr).toBe(0)
    expect(JSON.parse(byDefault.stdout)).toMatchObject({ record_class: 'content', council_gss: null, keep_days: 1, updated_by: 'operator:cli' })

    const show = await cli(['show'])
    expect(show.code, show.stderr).toBe(0)
    const listed = JSON.parse(show.stdout) as Array<{ record_class: string; council_gss: string | null; keep_days: number }>
    const rows = await ctx.query<{ record_class: string; council_gss: string | null; keep_days: number }>('select record_class, council_gss, keep_days from retention_schedules')
    expect(listed.map((s) => ({ record_class: s.record_class, council_gss: s.council_gss, keep_days: s.keep_days }))).toEqual(
      expect.arrayContaining(rows.map((r) => ({ ...r })))
    )
    expect(listed).toHaveLength(rows.length)

    const refused = await cli(['set', '--class', 'resident', '--days', '5', '--council', WESTMINSTER])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/one schedule for every council/)
    const unknown = await cli(['set', '--class', 'content', '--days', '5', '--council', 'E99999999'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/No council .* E99999999/)
    expect(await ctx.query(`select 1 from retention_schedules where council_gss = 'E99999999' or (record_class = 'resident' and council_gss is not null)`)).toHaveLength(0)

    // the CLI runs on the real clock: a message written three days ago is due under the new one-day default
    const [id] = await report(1, 'clirun')
    await ctx.query(`update messages set created_at = now() - interval '3 days' where case_id = $1`, [id])
    const ran = await cli(['run'])
    expect(ran.code, ran.stderr).toBe(0)
    const printed = JSON.parse(ran.stdout) as { run_id: number; counts: Record<string, number> }
    expect(printed.counts).toEqual({ raw: 0, content: 1, case: 0, delivery: 0, resident: 0, access_log: 0 })
    expect(await ctx.query('select 1 from messages where case_id = $1 and redacted_at is not null', [id])).toHaveLength(1)
    const [recorded] = await ctx.query<{ finished_at: Date | null; counts: Record<string, number> }>('select finished_at, counts from retention_runs where id = $1', [printed.run_id])
    expect(recorded!.finished_at).not.toBeNull()
    expect(recorded!.counts).toMatchObject(printed.counts)
  }, TEST_TIMEOUT_MS * 2)
})
