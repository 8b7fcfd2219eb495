import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentSessions } from '../../src/agents/sessions.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { resumeClocks } from '../../src/sla/clocks.js'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { WESTMINSTER } from '../helpers/councils.js'

// What the desk reads besides the queue, through the whole app: the agent's own cases, a
// case whole (resident, messages, events, SLA clocks), colleagues and teams; each of the
// agent's partnership only, and each read of a resident's data recorded. And the desk's
// own page at /desk.

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})

let n = 0
async function agent(partnership = 'tri-borough', name: string | null = null) {
  const [row] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, display_name, role, password_hash, presence, presence_at) values ($1, $2, $3, 'agent', 'not-a-hash', 'online', now()) returning id`,
    [partnership, `viewer${++n}.${Date.now()}@example.org`, name]
  )
  const token = await agentSessions(ctx.infra).sign({ agentId: row!.id, partnershipId: partnership, role: 'agent' })
  return { id: row!.id, auth: { authorization: `Bearer ${token}` } }
}

async function heldCase(agentId: number | null, workStatus = 'open', partnership = 'tri-borough') {
  const reference = newCaseReference()
  const [c] = await ctx.query<{ id: number }>(
    `with r as (insert into residents (display_name) values ('Ada Resident') returning id)
     insert into cases (reference, resident_id, channel, partnership_id, council_gss, service_code, work_status, assigned_agent_id, description, reported_phone,
                        first_response_due_at, resolution_due_at)
     select $1, r.id, 'sms', $3, $4, 'missed_bin', 'open', $2, 'Bins not collected on Elm Road', '+447911550777', now() + interval '1 hour', now() + interval '2 days' from r
     returning id`,
    [reference, agentId, partnership, partnership === 'tri-borough' ? WESTMINSTER : null]
  )
  await ctx.query(`insert into messages (case_id, direction, channel, body) values ($1, 'inbound', 'sms', 'Bins not collected on Elm Road')`, [c!.id])
  await ctx.query(`insert into case_events (case_id, type, actor, reason) values ($1, 'case.opened', 'intake:sms', 'Contact received')`, [c!.id])
  // after the message: a resident's message reopens a resolved case
  await ctx.query('update cases set work_status = $2 where id = $1', [c!.id, workStatus])
  return reference
}

const get = (url: string, auth: Record<string, string>) => ctx.app.inject({ method: 'GET', url, headers: auth })
const readsOf = (reference: string) => ctx.query<{ actor: string; route: string }>('select actor, route from access_log where reference = $1 order by id', [reference])

describe("an agent's own cases", () => {
  it('lists the open cases the agent holds, not resolved ones nor anyone else’s, and records each as read', async () => {
    const [me, other] = [await agent(), await agent()]
    const open = await heldCase(me.id, 'open')
    const waiting = await heldCase(me.id, 'waiting_on_resident')
    await heldCase(me.id, 'resolved')
    await heldCase(other.id, 'open')
    await heldCase(null, 'new')
    const res = await get('/v1/agent/mine', me.auth)
    expect(res.statusCode).toBe(200)
    expect(res.json().cases.map((c: { reference: string }) => c.reference).sort()).toEqual([open, waiting].sort())
    expect(await readsOf(open)).toEqual([{ actor: `agent:${me.id}`, route: 'GET /v1/agent/mine' }])
  })
})

describe('a case whole', () => {
  it('shows its resident, messages, events and SLA clocks, and records the read', async () => {
    const me = await agent()
    const ref = await heldCase(me.id)
    const res = await get(`/v1/agent/cases/${ref.toLowerCase()}`, me.auth)
    expect(res.statusCode, res.body).toBe(200)
    const c = res.json()
    expect(c).toMatchObject({
      reference: ref,
      work_status: 'open',
      assigned_agent_id: me.id,
      council_name: 'Westminster City Council',
      resident: { name: 'Ada Resident', phone: '+447911550777', email: null },
      messages: [{ direction: 'inbound', channel: 'sms', body: 'Bins not collected on Elm Road' }],
      events: [{ type: 'case.opened', actor: 'intake:sms' }]
    })
    expect(new Date(c.first_response_due_at).getTime()).toBeGreaterThan(Date.now())
    expect(c.resolution_due_at).not.toBeNull()
    expect(await readsOf(ref)).toEqual([{ actor: `agent:${me.id}`, route: 'GET /v1/agent/cases/:reference' }])
  })

  it('shows the resolution clock paused while the case waits on the resident, and running again after', async () => {
    const me = await agent()
    const ref = await heldCase(me.id, 'waiting_on_resident')
    const waiting = (await get(`/v1/agent/cases/${ref}`, me.auth)).json()
    expect(waiting.resolution_paused_at).not.toBeNull()
    await ctx.query(`update cases set work_status = 'open' where reference = $1`, [ref])
    // back from waiting: shown paused until the sla worker has moved the clock on
    expect((await get(`/v1/agent/cases/${ref}`, me.auth)).json().resolution_paused_at).not.toBeNull()
    await resumeClocks(ctx.infra.db)
    expect((await get(`/v1/agent/cases/${ref}`, me.auth)).json().resolution_paused_at).toBeNull()
  })

  it("is 404 for another partnership's case, and records nothing", async () => {
    const me = await agent('tri-borough')
    const theirs = await heldCase(null, 'new', 'brent-lewisham')
    const res = await get(`/v1/agent/cases/${theirs}`, me.auth)
    expect(res.statusCode).toBe(404)
    expect(await readsOf(theirs)).toEqual([])
  })

  it('needs an agent token', async () => {
    const ref = await heldCase(null, 'new')
    expect((await get(`/v1/agent/cases/${ref}`, {})).statusCode).toBe(401)
  })
})

describe('colleagues and teams', () => {
  it("names the agent's colleagues with presence and the partnership's teams, nobody of another partnership", async () => {
    const me = await agent('tri-borough', 'Me Myself')
    const colleague = await agent('tri-borough', 'Colleague One')
    await ctx.query(`update agents set presence_at = now() - interval '10 minutes' where id = $1`, [colleague.id])
    const stranger = await agent('brent-lewisham', 'Not Ours')
    const res = await get('/v1/agent/me', me.auth)
    expect(res.statusCode).toBe(200)
    const d = res.json()
    expect(d.me).toMatchObject({ id: me.id, display_name: 'Me Myself', presence: 'online' })
    const ids = d.colleagues.map((c: { id: number }) => c.id)
    expect(ids).toContain(colleague.id)
    expect(ids).not.toContain(me.id)
    expect(ids).not.toContain(stranger.id)
    // a heartbeat ten minutes old is offline, whatever was last said
    expect(d.colleagues.find((c: { id: number }) => c.id === colleague.id).presence).toBe('offline')
    expect(d.teams.map((t: { name: string }) => t.name)).toContain('Contact centre')
  })
})

describe('the desk page', () => {
  it('is served at /desk/ with a policy that allows this origin only, and /desk redirects to it', async () => {
    const redirect = await ctx.app.inject({ method: 'GET', url: '/desk' })
    expect(redirect.statusCode).toBe(302)
    expect(redirect.headers.location).toBe('/desk/')
    const page = await ctx.app.inject({ method: 'GET', url: '/desk/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toContain('text/html')
    expect(page.body).toContain('<div id="app">')
    expect(page.headers['content-security-policy']).toContain("default-src 'self'")
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'")
    const script = /src="(\/desk\/assets\/[^"]+\.js)"/.exec(page.body)![1]!
    const asset = await ctx.app.inject({ method: 'GET', url: script })
    expect(asset.statusCode).toBe(200)
    expect(asset.headers['cache-control']).toContain('immutable')
  })
})
