import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, type TestContext } from '../helpers/context.js'

// Events, messages, raw payloads and deliveries refer to their case without a foreign key
// (migrations/025): what keeps those references valid is that a case is never removed or
// renumbered. These are the statements that would leave them pointing at nothing.
let ctx: TestContext
let caseId: number

beforeAll(async () => {
  ctx = await createTestContext({}, { mail: 'demo', workers: true })
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/contacts',
    payload: { name: 'Ada Resident', email: 'ada.refs@example.org', description: 'Overflowing bin on the corner', postcode: 'LE10 0AA' }
  })
  expect(res.statusCode).toBe(202)
  const [row] = await ctx.query<{ id: string }>('select id from cases where reference = $1', [res.json().reference])
  caseId = Number(row!.id)
})
afterAll(async () => {
  await ctx?.close()
})

describe('a case that others refer to', () => {
  it('cannot be deleted, and its events, messages and raw payload stay with it', async () => {
    await expect(ctx.query('delete from cases where id = $1', [caseId])).rejects.toMatchObject({ code: '23001' })
    const [kept] = await ctx.query<{ cases: number; events: number; messages: number; raw: number }>(
      `select (select count(*) from cases where id = $1)::int as cases, (select count(*) from case_events where case_id = $1)::int as events,
              (select count(*) from messages where case_id = $1)::int as messages, (select count(*) from raw_inbound where case_id = $1)::int as raw`,
      [caseId]
    )
    expect(kept).toMatchObject({ cases: 1, messages: 1, raw: 1 })
    expect(kept!.events).toBeGreaterThanOrEqual(1)
  })

  it('cannot be deleted by a statement that matches no row either, nor truncated', async () => {
    await expect(ctx.query('delete from cases where false')).rejects.toThrow(/never deleted/)
    await expect(ctx.query('truncate cases cascade')).rejects.toThrow(/never deleted/)
  })

  it('cannot be renumbered, while other changes to it are allowed', async () => {
    // the id is generated always: Postgres itself refuses to change it
    await expect(ctx.query('update cases set id = id + 1000000 where id = $1', [caseId])).rejects.toMatchObject({ code: '428C9' })
    await ctx.query('update cases set priority = $2 where id = $1', [caseId, 'high'])
    const [row] = await ctx.query<{ priority: string }>('select priority from cases where id = $1', [caseId])
    expect(row!.priority).toBe('high')
  })
})

describe('the council, service, partnership and destination a case was placed with', () => {
  it('cannot be deleted while the case names it; one nothing names can be', async () => {
    await waitForRouted()
    const [placed] = await ctx.query<{ council_gss: string; service_code: string; partnership_id: string; destination_id: string }>(
      'select council_gss, service_code, partnership_id, destination_id from cases where id = $1',
      [caseId]
    )
    expect(placed!.destination_id).not.toBeNull()
    for (const [sql, value] of [
      ['delete from destinations where id = $1', placed!.destination_id],
      ['delete from services where code = $1', placed!.service_code],
      ['delete from councils where gss = $1', placed!.council_gss],
      ['delete from partnerships where id = $1', placed!.partnership_id]
    ] as const) {
      await expect(ctx.query(sql, [value]), sql).rejects.toMatchObject({ code: '23503' })
    }
    const [still] = await ctx.query<{ n: number }>('select count(*)::int as n from destinations where id = $1', [placed!.destination_id])
    expect(still!.n).toBe(1)
    // a destination no case or delivery names goes as before
    const [spare] = await ctx.query<{ id: string }>(
      `insert into destinations (council_gss, service_code, team, kind, webhook_url, webhook_secret, email, active)
       select council_gss, service_code, 'Spare team', kind, webhook_url, webhook_secret, email, false from destinations where id = $1 returning id`,
      [placed!.destination_id]
    )
    await ctx.query('delete from destinations where id = $1', [spare!.id])
  })
})

async function waitForRouted(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await ctx.query<{ status: string }>('select status from cases where id = $1', [caseId])
    if (row!.status !== 'received') return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('the case was not routed')
}
