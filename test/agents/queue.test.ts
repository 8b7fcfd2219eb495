import Fastify from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { assignRoundRobin } from '../../src/agents/assignment.js'
import { agentSessions } from '../../src/agents/sessions.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { validatorCompiler } from '../../src/lib/validator-compiler.js'
import { errorHandler } from '../../src/plugins/error-handler.js'
import { infraDecorators } from '../../src/plugins/infra.js'
import { agentRoutes } from '../../src/routes/agents/workspace.js'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { KENSINGTON, WESTMINSTER } from '../helpers/councils.js'

// Queues, "next case" and round-robin, on a real database: cases and agents are inserted
// directly so each test knows exactly what is waiting.

let ctx: TestContext
let app: Awaited<ReturnType<typeof buildAgentApp>>
beforeAll(async () => {
  ctx = await createTestContext()
  app = await buildAgentApp(ctx)
})
afterAll(async () => {
  await app?.close()
  await ctx?.close()
})
beforeEach(async () => {
  // every test starts from an empty workspace (its own database is this file's alone)
  await ctx.query(`update cases set assigned_agent_id = null, work_status = 'closed'`)
  await ctx.query('delete from agent_teams')
  await ctx.query('update agents set active = false')
})

async function buildAgentApp(c: TestContext) {
  const a = Fastify({ logger: false })
  a.setValidatorCompiler(validatorCompiler)
  await a.register(errorHandler)
  await a.register(infraDecorators, { infra: c.infra })
  await a.register(agentRoutes, { tokens: agentSessions(c.infra) })
  await a.ready()
  return a
}

let n = 0
async function agent(over: { partnership?: string; role?: string; capacity?: number; online?: boolean; team?: number } = {}) {
  const [row] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, role, password_hash, capacity, presence, presence_at)
     values ($1, $2, $3, 'not-a-hash', $4, $5, case when $5 = 'online' then now() else now() - interval '1 hour' end) returning id`,
    [over.partnership ?? 'tri-borough', `agent${++n}.${Date.now()}@example.org`, over.role ?? 'agent', over.capacity ?? 5, over.online === false ? 'offline' : 'online']
  )
  if (over.team) await ctx.query('insert into agent_teams values ($1, $2)', [row!.id, over.team])
  const token = await agentSessions(ctx.infra).sign({ agentId: row!.id, partnershipId: over.partnership ?? 'tri-borough', role: (over.role ?? 'agent') as 'agent' })
  return { id: row!.id, auth: { authorization: `Bearer ${token}` } }
}

async function newCases(count: number, over: { partnership?: string; council?: string; priority?: string; dueInHours?: number | null } = {}) {
  const refs: string[] = []
  for (let i = 0; i < count; i++) {
    const reference = newCaseReference()
    await ctx.query(
      `with r as (insert into residents default values returning id)
       insert into cases (reference, resident_id, channel, partnership_id, council_gss, priority, sla_due_at)
       select $1, r.id, 'web', $2, $3, $4, now() + make_interval(hours => $5) from r`,
      [reference, over.partnership ?? 'tri-borough', over.council ?? WESTMINSTER, over.priority ?? 'normal', over.dueInHours === undefined ? 24 : over.dueInHours]
    )
    refs.push(reference)
  }
  return refs
}

async function team(autoAssign: boolean, council: string | null = null, partnership = 'tri-borough') {
  const [row] = await ctx.query<{ id: number }>('insert into teams (partnership_id, name, council_gss, auto_assign) values ($1, $2, $3, $4) returning id', [partnership, `team ${++n}`, council, autoAssign])
  return row!.id
}

const get = (url: string, headers: Record<string, string>) => app.inject({ method: 'GET', url, headers })
const post = (url: string, headers: Record<string, string>) => app.inject({ method: 'POST', url, headers })
const queueRefs = async (headers: Record<string, string>, q = '') => ((await get(`/v1/agent/queue?limit=200${q}`, headers)).json() as { cases: { reference: string }[] }).cases.map((c) => c.reference)

describe('the queue', () => {
  it('lists unassigned open cases by priority, then SLA due time (none last), and needs a token', async () => {
    const a = await agent()
    const [noDue] = await newCases(1, { priority: 'urgent', dueInHours: null })
    const [urgentLater] = await newCases(1, { priority: 'urgent', dueInHours: 5 })
    const [urgentSooner] = await newCases(1, { priority: 'urgent', dueInHours: 1 })
    const [low] = await newCases(1, { priority: 'low', dueInHours: 0 })
    const [high] = await newCases(1, { priority: 'high', dueInHours: 48 })
    const [held] = await newCases(1, { priority: 'urgent' })
    await ctx.query('update cases set assigned_agent_id = $1 where reference = $2', [a.id, held])
    expect(await queueRefs(a.auth)).toEqual([urgentSooner, urgentLater, noDue, high, low])
    expect((await get('/v1/agent/queue', {})).statusCode).toBe(401)
  })

  it("narrows to a team's council, and answers 404 for another partnership's team", async () => {
    const a = await agent()
    const [westminster] = await newCases(1, { council: WESTMINSTER })
    const [kensington] = await newCases(1, { council: KENSINGTON })
    const wcc = await team(false, WESTMINSTER)
    expect(await queueRefs(a.auth, `&team=${wcc}`)).toEqual([westminster])
    expect(await queueRefs(a.auth)).toEqual([westminster, kensington])
    const theirs = await team(false, null, 'brent-lewisham')
    expect((await get(`/v1/agent/queue?team=${theirs}`, a.auth)).statusCode).toBe(404)
  })

  it("never shows an agent another partnership's cases, nor lets them act on one", async () => {
    const [tri] = await newCases(1)
    const brent = await agent({ partnership: 'brent-lewisham' })
    expect(await queueRefs(brent.auth)).toEqual([])
    expect((await post('/v1/agent/next', brent.auth)).statusCode).toBe(204)
    for (const path of ['claim', 'release']) expect((await post(`/v1/agent/cases/${tri}/${path}`, brent.auth)).statusCode).toBe(404)
    const patch = await app.inject({ method: 'PATCH', url: `/v1/agent/cases/${tri}`, headers: brent.auth, payload: { work_status: 'open' } })
    expect(patch.statusCode).toBe(404)
    const [row] = await ctx.query<{ assigned_agent_id: number | null; work_status: string }>('select assigned_agent_id, work_status from cases where reference = $1', [tri])
    expect(row).toEqual({ assigned_agent_id: null, work_status: 'new' })
  })
})

describe('next case', () => {
  it('gives the top of the queue, opens it, records who took it, and answers 204 when empty', async () => {
    const a = await agent()
    const [normal] = await newCases(1)
    const [urgent] = await newCases(1, { priority: 'urgent' })
    const first = await post('/v1/agent/next', a.auth)
    expect(first.statusCode).toBe(200)
    expect(first.json()).toMatchObject({ reference: urgent, work_status: 'open' })
    expect((await post('/v1/agent/next', a.auth)).json()).toMatchObject({ reference: normal })
    expect((await post('/v1/agent/next', a.auth)).statusCode).toBe(204)
    const events = await ctx.query<{ type: string; actor: string }>(`select e.type, e.actor from case_events e join cases c on c.id = e.case_id where c.reference = $1`, [urgent])
    expect(events).toContainEqual({ type: 'case.assigned', actor: `agent:${a.id}` })
  })

  it('refuses with 409 at_capacity once the agent holds their capacity', async () => {
    const a = await agent({ capacity: 2 })
    await newCases(3)
    expect((await post('/v1/agent/next', a.auth)).statusCode).toBe(200)
    expect((await post('/v1/agent/next', a.auth)).statusCode).toBe(200)
    const refused = await post('/v1/agent/next', a.auth)
    expect(refused.statusCode).toBe(409)
    expect(refused.json().code).toBe('at_capacity')
  })

  it('never gives the same case to two agents racing for it', async () => {
    const agents = await Promise.all(Array.from({ length: 8 }, () => agent({ capacity: 100 })))
    const refs = await newCases(60)
    const got: string[] = []
    // eight agents ask again and again, all at once, until the queue is empty
    await Promise.all(
      agents.map(async (a) => {
        for (;;) {
          const res = await post('/v1/agent/next', a.auth)
          if (res.statusCode === 204) return
          expect(res.statusCode, res.body).toBe(200)
          got.push((res.json() as { reference: string }).reference)
        }
      })
    )
    expect(got).toHaveLength(60)
    expect(new Set(got).size).toBe(60)
    expect(new Set(got)).toEqual(new Set(refs))
    const [{ count }] = (await ctx.query<{ count: number }>(`select count(*)::int as count from case_events where type = 'case.assigned' and case_id in (select id from cases where reference = any ($1))`, [refs])) as [{ count: number }]
    expect(count).toBe(60)
  })
})

describe('round-robin', () => {
  const heldBy = async (ids: number[]) =>
    Object.fromEntries((await ctx.query<{ a: number; n: number }>('select assigned_agent_id as a, count(*)::int as n from cases where assigned_agent_id = any ($1) group by 1', [ids])).map((r) => [r.a, r.n]))

  it('spreads 100 cases evenly over 4 online agents and gives an offline one none', async () => {
    const t = await team(true)
    const online = await Promise.all(Array.from({ length: 4 }, () => agent({ capacity: 30, team: t })))
    const offline = await agent({ capacity: 30, team: t, online: false })
    await newCases(100)
    const done = await assignRoundRobin(ctx.infra.db, 'tri-borough', t)
    expect(done).toHaveLength(100)
    const counts = await heldBy([...online.map((a) => a.id), offline.id])
    for (const a of online) expect(Math.abs(counts[a.id]! - 25)).toBeLessThanOrEqual(1)
    expect(counts[offline.id]).toBeUndefined()
  })

  it('never goes beyond capacity, even with two runs at once, and leaves the rest queued', async () => {
    const t = await team(true)
    const online = await Promise.all(Array.from({ length: 4 }, () => agent({ capacity: 20, team: t })))
    await newCases(100)
    const runs = await Promise.all([assignRoundRobin(ctx.infra.db, 'tri-borough', t), assignRoundRobin(ctx.infra.db, 'tri-borough', t)])
    expect(runs.flat()).toHaveLength(80)
    const counts = await heldBy(online.map((a) => a.id))
    for (const a of online) expect(counts[a.id]).toBe(20)
    expect(await queueRefs(online[0]!.auth)).toHaveLength(20)
  })

  it('takes turns across runs: whoever was given a case longest ago goes first', async () => {
    const t = await team(true)
    const [a, b] = [await agent({ team: t }), await agent({ team: t })]
    await newCases(1)
    const [first] = await assignRoundRobin(ctx.infra.db, 'tri-borough', t)
    await newCases(1)
    const [second] = await assignRoundRobin(ctx.infra.db, 'tri-borough', t)
    expect(new Set([first!.agentId, second!.agentId])).toEqual(new Set([a.id, b.id]))
  })

  it('leaves a team without auto_assign alone, and the route runs it for supervisors only', async () => {
    const manual = await team(false)
    const auto = await team(true)
    const worker = await agent({ team: manual })
    await ctx.query('insert into agent_teams values ($1, $2)', [worker.id, auto])
    const boss = await agent({ role: 'supervisor' })
    const [ref] = await newCases(1)
    expect(await assignRoundRobin(ctx.infra.db, 'tri-borough', manual)).toEqual([])
    expect((await post(`/v1/agent/teams/${auto}/assign`, worker.auth)).statusCode).toBe(403)
    const res = await post(`/v1/agent/teams/${auto}/assign`, boss.auth)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ assigned: [{ reference: ref, agent_id: worker.id }] })
  })
})
