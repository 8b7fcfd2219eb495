import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assignRoundRobin } from '../../src/agents/assignment.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { createTestContext, type TestContext } from '../helpers/context.js'

// Round-robin over several runs of the assigner, called here directly (no workers, so no
// run of their own interleaves): whoever was given a case longest ago is next, across runs.

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({}, { mail: 'demo' })
})
afterAll(async () => {
  await ctx?.close()
})

const PARTNERSHIP = 'test-round-robin'

async function onlineAgent(teamId: number, n: number): Promise<number> {
  const [row] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, role, password_hash, capacity, presence, presence_at)
     values ($1, $2, 'agent', 'not-a-hash', 10, 'online', clock_timestamp()) returning id`,
    [PARTNERSHIP, `rr${n}.${Date.now()}@example.org`]
  )
  await ctx.query('insert into agent_teams (agent_id, team_id) values ($1, $2)', [row!.id, teamId])
  return row!.id
}

async function newCases(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await ctx.query(
      `with r as (insert into residents default values returning id)
       insert into cases (reference, resident_id, channel, partnership_id, council_gss, work_status) select $1, r.id, 'web', $2, 'E09000033', 'new' from r`,
      [newCaseReference(), PARTNERSHIP]
    )
  }
}

describe('round-robin assignment', () => {
  it('keeps the turns across runs: cases arriving 1, 2 and 1 at a time go 2 and 2', async () => {
    await ctx.query(`insert into partnerships (id, name) values ($1, 'Round robin')`, [PARTNERSHIP])
    const [team] = await ctx.query<{ id: number }>(`insert into teams (partnership_id, name, auto_assign) values ($1, 'Auto', true) returning id`, [PARTNERSHIP])
    const a = await onlineAgent(team!.id, 1)
    const b = await onlineAgent(team!.id, 2)
    // one run per arrival: a, then b and a within one run (a last), then b again
    for (const arriving of [1, 2, 1]) {
      await newCases(arriving)
      expect(await assignRoundRobin(ctx.infra.db, PARTNERSHIP)).toHaveLength(arriving)
    }
    const rows = await ctx.query<{ assigned_agent_id: number }>('select assigned_agent_id from cases where partnership_id = $1', [PARTNERSHIP])
    const per = (id: number) => rows.filter((r) => r.assigned_agent_id === id).length
    expect([per(a), per(b)]).toEqual([2, 2])
  })
})
