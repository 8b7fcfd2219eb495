import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentSessions } from '../../src/agents/sessions.js'
import type { AgentRole } from '../../src/agents/tokens.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { validatorCompiler } from '../../src/lib/validator-compiler.js'
import { errorHandler } from '../../src/plugins/error-handler.js'
import { infraDecorators } from '../../src/plugins/infra.js'
import { supervisorRoutes } from '../../src/routes/agents/supervisor.js'
import { createTestContext, waitFor, type TestContext } from '../helpers/context.js'
import { KENSINGTON, WESTMINSTER } from '../helpers/councils.js'

// The supervisor's overview over a small fixture of its own, and automatic assignment by the
// workers (no API call), each in a partnership made for the test so the numbers are exact.

let ctx: TestContext
let app: Awaited<ReturnType<typeof Fastify>>
beforeAll(async () => {
  ctx = await createTestContext({ ASSIGN_EVERY_MS: 100 }, { workers: true, mail: 'demo' })
  app = Fastify({ logger: false })
  app.setValidatorCompiler(validatorCompiler)
  await app.register(errorHandler)
  await app.register(infraDecorators, { infra: ctx.infra })
  await app.register(supervisorRoutes, { tokens: agentSessions(ctx.infra) })
  await app.ready()
})
afterAll(async () => {
  await app?.close()
  await ctx?.close()
})

let n = 0
async function partnership() {
  const id = `test-p${++n}`
  await ctx.query(`insert into partnerships (id, name) values ($1, 'Test partnership')`, [id])
  return id
}
async function team(partnershipId: string, name: string, opts: { council?: string; autoAssign?: boolean } = {}) {
  return (await ctx.query<{ id: number }>('insert into teams (partnership_id, name, council_gss, auto_assign) values ($1, $2, $3, $4) returning id', [partnershipId, name, opts.council ?? null, opts.autoAssign ?? false]))[0]!.id
}
/** An agent in these teams; presence as of `seenSecondsAgo` (null: never). */
async function agent(partnershipId: string, teams: number[], opts: { role?: AgentRole; presence?: string; seenSecondsAgo?: number | null; capacity?: number } = {}) {
  const role = opts.role ?? 'agent'
  const [row] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, role, password_hash, capacity, presence, presence_at)
     values ($1, $2, $3, 'not-a-hash', $4, $5, case when $6::int is null then null else clock_timestamp() - make_interval(secs => $6::int) end) returning id`,
    [partnershipId, `sup${++n}.${Date.now()}@example.org`, role, opts.capacity ?? 5, opts.presence ?? 'offline', opts.seenSecondsAgo ?? null]
  )
  for (const t of teams) await ctx.query('insert into agent_teams (agent_id, team_id) values ($1, $2)', [row!.id, t])
  const token = await agentSessions(ctx.infra).sign({ agentId: row!.id, partnershipId, role })
  return { id: row!.id, auth: { authorization: `Bearer ${token}` } }
}
async function newCase(partnershipId: string, opts: { council?: string; agentId?: number; workStatus?: string; ageSeconds?: number; mergedInto?: number } = {}) {
  const [row] = await ctx.query<{ id: number }>(
    `with r as (insert into residents default values returning id)
     insert into cases (reference, resident_id, channel, partnership_id, council_gss, assigned_agent_id, work_status, created_at, merged_into)
     select $1, r.id, 'web', $2, $3, $4, $5, clock_timestamp() - make_interval(secs => $6), $7 from r returning id`,
    [newCaseReference(), partnershipId, opts.council ?? WESTMINSTER, opts.agentId ?? null, opts.workStatus ?? 'new', opts.ageSeconds ?? 0, opts.mergedInto ?? null]
  )
  return row!.id
}
const breach = (caseId: number) => ctx.query(`insert into case_events (case_id, type, actor, reason) values ($1, 'sla.breached', 'worker:sla', 'First response target passed')`, [caseId])
const overview = (auth: Record<string, string>) => app.inject({ method: 'GET', url: '/v1/supervisor/overview', headers: auth })

describe('supervisor overview', () => {
  it("shows each team's queue depth, oldest waiting, SLA breaches and agents' presence and load", async () => {
    const p = await partnership()
    const all = await team(p, 'Everyone')
    const west = await team(p, 'Westminster desk', { council: WESTMINSTER })
    const busy = await agent(p, [all], { presence: 'online', seenSecondsAgo: 5, capacity: 3 })
    const gone = await agent(p, [all], { presence: 'online', seenSecondsAgo: 600 })
    const away = await agent(p, [west], { presence: 'away', seenSecondsAgo: 5 })
    const boss = await agent(p, [], { role: 'supervisor' })

    const oldest = await newCase(p, { council: WESTMINSTER, ageSeconds: 600 })
    await newCase(p, { council: KENSINGTON, ageSeconds: 300 })
    await newCase(p, { council: WESTMINSTER, mergedInto: oldest, workStatus: 'closed', ageSeconds: 900 })
    await newCase(p, { agentId: busy.id, workStatus: 'open' })
    await newCase(p, { agentId: busy.id, workStatus: 'resolved' })
    await breach(await newCase(p, { council: KENSINGTON, agentId: busy.id, workStatus: 'open' }))
    await breach(await newCase(p, { council: WESTMINSTER, agentId: away.id, workStatus: 'closed' }))

    const res = await overview(boss.auth)
    expect(res.statusCode).toBe(200)
    const teams = res.json().teams as { name: string; queue_depth: number; oldest_waiting_seconds: number; sla_breached: number; agents: { id: number; presence: string; open_cases: number; capacity: number }[] }[]
    expect(teams.map((t) => t.name)).toEqual(['Everyone', 'Westminster desk'])
    const [everyone, desk] = teams as [(typeof teams)[0], (typeof teams)[0]]
    expect(everyone).toMatchObject({ queue_depth: 2, sla_breached: 1 })
    expect(everyone.oldest_waiting_seconds).toBeGreaterThanOrEqual(600)
    expect(everyone.oldest_waiting_seconds).toBeLessThan(660)
    expect(everyone.agents.map((a) => [a.id, a.presence, a.open_cases, a.capacity])).toEqual([
      [busy.id, 'online', 2, 3],
      [gone.id, 'offline', 0, 5]
    ])
    expect(desk).toMatchObject({ queue_depth: 1, sla_breached: 0 })
    expect(desk.oldest_waiting_seconds).toBeGreaterThanOrEqual(600)
    expect(desk.agents.map((a) => [a.id, a.presence, a.open_cases])).toEqual([[away.id, 'away', 0]])
  })

  it("needs a supervisor, and shows only the supervisor's own partnership", async () => {
    const p = await partnership()
    const t = await team(p, 'Only team')
    const plain = await agent(p, [t])
    expect((await overview(plain.auth)).statusCode).toBe(403)
    expect((await overview({})).statusCode).toBe(401)
    const other = await partnership()
    const boss = await agent(other, [], { role: 'supervisor' })
    expect((await overview(boss.auth)).json().teams).toEqual([])
  })
})

describe('automatic assignment', () => {
  it('hands new cases of an auto-assigning team to its online agents, with no API call', async () => {
    const p = await partnership()
    const t = await team(p, 'Auto', { autoAssign: true })
    const [a, b] = [await agent(p, [t], { presence: 'online', seenSecondsAgo: 1 }), await agent(p, [t], { presence: 'online', seenSecondsAgo: 1 })]
    const offline = await agent(p, [t])
    const manual = await partnership()
    await team(manual, 'Manual')
    await agent(manual, [], { presence: 'online', seenSecondsAgo: 1 })
    const waiting = await newCase(manual)

    const cases = [await newCase(p), await newCase(p), await newCase(p), await newCase(p)]
    const assigned = await waitFor(async () => {
      const rows = await ctx.query<{ assigned_agent_id: number | null }>('select assigned_agent_id from cases where id = any($1::bigint[])', [cases])
      return rows.every((r) => r.assigned_agent_id !== null) && rows
    }, 10_000, 'the cases to be assigned')
    const per = (id: number) => assigned.filter((r) => r.assigned_agent_id === id).length
    expect([per(a.id), per(b.id), per(offline.id)]).toEqual([2, 2, 0])
    const [event] = await ctx.query<{ actor: string }>(`select actor from case_events where case_id = $1 and type = 'case.assigned'`, [cases[0]])
    expect(event?.actor).toBe('worker:assign')
    // a team without auto_assign is left to its agents
    expect((await ctx.query('select assigned_agent_id from cases where id = $1', [waiting]))[0]).toEqual({ assigned_agent_id: null })
  })
})
