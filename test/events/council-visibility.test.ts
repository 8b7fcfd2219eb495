import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createAgent } from '../../src/agents/accounts.js'
import { createApiKey } from '../../src/councils/api-keys.js'
import { COUNCIL_EVENT_TYPES, EVENT_AUDIENCES, eventTypesFor, WEBHOOK_NAME_OF } from '../../src/events/audience.js'
import { createTestContext, OPERATOR_KEY, postContact, waitFor, waitPlaced, type TestContext } from '../helpers/context.js'
import { startReceiver, type Receiver } from '../helpers/delivery.js'
import { WESTMINSTER } from '../helpers/councils.js'

// Issue 20, point 5: what agents write for colleagues reaches no council system. Against the
// real app and workers: agents note, transfer and merge a case with words of their own; the
// council's case API, its Open311 reads and its webhook subscriber never see those words,
// while operators' audit trail and agents' live view still do.

// distinctive, so a search of any raw answer finds a leak
const NOTE = 'Internal: the resident is known to us, zq-note-7731'
const TRANSFER = 'Handing over while zq-transfer-4419 is on leave'
const MERGE = 'Same bin twice, zq-merge-5520'
const SECRETS = ['zq-note-7731', 'zq-transfer-4419', 'zq-merge-5520']
const COUNCIL_NOTE = 'Crew informed, zq-council-0101'

let ctx: TestContext
let hook: Receiver
let key = ''
let url = ''
const refs = { kept: '', merged: '' }
const tokens = { first: '', second: '' }
let secondId = 0
const live: { type: string; case?: { reference?: string } }[] = []
let socket: WebSocket | undefined

const expectNoSecret = (text: string, where: string) => {
  for (const s of SECRETS) expect(text, where).not.toContain(s)
}

async function login(role: 'agent' | 'supervisor', email: string) {
  const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role })
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: made.password } })
  expect(res.statusCode, res.body).toBe(200)
  return { id: made.id, token: (res.json() as { token: string }).token }
}

const asAgent = (token: string, method: 'POST' | 'PATCH', path: string, payload?: unknown) =>
  ctx.app.inject({ method, url: path, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload: payload as Record<string, unknown> } : {}) })

beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  hook = await startReceiver(() => 200)
  key = (await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read', 'write', 'open311'])).key
  const sub = await ctx.app.inject({ method: 'POST', url: '/v1/webhooks', headers: { authorization: `Bearer ${key}` }, payload: { url: hook.url, events: ['case.created', 'case.routed', 'case.updated', 'message.created'] } })
  expect(sub.statusCode, sub.body).toBe(201)

  // two reports of one missed bin by one resident: one will be merged into the other
  for (const which of ['kept', 'merged'] as const) {
    const res = await postContact(ctx, { name: 'Robin Vale', email: 'robin.vale@example.org', postcode: 'SW1A 1AA', service_code: 'missed_bin', description: `Bin missed (${which})` })
    expect(res.statusCode, res.body).toBe(202)
    refs[which] = (res.json() as { reference: string }).reference
    expect((await waitPlaced(ctx, refs[which])).council_gss).toBe(WESTMINSTER)
  }

  const first = await login('supervisor', 'first.agent@contact.example')
  const second = await login('agent', 'second.agent@contact.example')
  tokens.first = first.token
  tokens.second = second.token
  secondId = second.id

  // the second agent watches the live view
  url = (await ctx.app.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws')
  socket = new WebSocket(`${url}/v1/agent/stream`, { headers: { authorization: `Bearer ${tokens.second}` } })
  socket.on('message', (data) => live.push(JSON.parse(String(data)) as (typeof live)[number]))
  await new Promise<void>((resolve, reject) => {
    socket!.once('open', () => resolve())
    socket!.once('error', reject)
  })

  // the contact centre at work, in words meant for colleagues
  expect((await asAgent(tokens.first, 'POST', `/v1/agent/cases/${refs.kept}/claim`)).statusCode).toBe(200)
  expect((await asAgent(tokens.first, 'POST', `/v1/agent/cases/${refs.kept}/notes`, { body: NOTE })).statusCode).toBe(201)
  expect((await asAgent(tokens.first, 'POST', `/v1/agent/cases/${refs.kept}/transfer`, { agent_id: secondId, reason: TRANSFER })).statusCode).toBe(204)
  expect((await asAgent(tokens.second, 'PATCH', `/v1/agent/cases/${refs.kept}`, { work_status: 'waiting_on_back_office' })).statusCode).toBe(200)
  const merged = await asAgent(tokens.first, 'POST', `/v1/agent/cases/${refs.merged}/merge`, { into: refs.kept, reason: MERGE })
  expect(merged.statusCode, merged.body).toBe(200)

  // then the council's own note and status: the last events, so once their webhooks are
  // settled every event before them has been fanned out (the trigger does it as each is written)
  const council = (path: string, payload: unknown) => ctx.app.inject({ method: 'POST', url: path, headers: { authorization: `Bearer ${key}` }, payload: payload as Record<string, unknown> })
  expect((await council(`/v1/cases/${refs.kept}/notes`, { body: COUNCIL_NOTE })).statusCode).toBe(201)
  expect((await council(`/v1/cases/${refs.kept}/updates`, { status: 'in_progress', description: 'A crew is booked', for_resident: false, update_id: 'vis-1' })).statusCode).toBe(201)
  await waitFor(
    async () => {
      const rows = await ctx.query<{ type: string; state: string }>('select e.type, e.state from webhook_events e join cases c on c.id = e.case_id where c.reference = $1', [refs.kept])
      return rows.some((r) => r.type === 'case.updated') && rows.every((r) => r.state === 'delivered')
    },
    20_000,
    'the council webhooks of the case to be delivered'
  )
}, 60_000)

afterAll(async () => {
  socket?.terminate()
  await hook?.close()
  await ctx?.close()
})

describe("agents' words for colleagues", () => {
  it("are not in the council's case API, which still shows the case's progress and the council's own note", async () => {
    for (const ref of [refs.kept, refs.merged]) {
      const res = await ctx.app.inject({ method: 'GET', url: `/v1/cases/${ref}`, headers: { authorization: `Bearer ${key}` } })
      expect(res.statusCode).toBe(200)
      expectNoSecret(res.body, `GET /v1/cases/${ref}`)
      const types = (res.json() as { events: { type: string }[] }).events.map((e) => e.type)
      expect(types.filter((t) => !(COUNCIL_EVENT_TYPES as readonly string[]).includes(t))).toEqual([])
      expect(types).toContain('case.routed')
    }
    const kept = (await ctx.app.inject({ method: 'GET', url: `/v1/cases/${refs.kept}`, headers: { authorization: `Bearer ${key}` } })).json() as { events: { type: string; data: { note?: string } }[] }
    expect(kept.events.find((e) => e.type === 'note.added')?.data.note).toBe(COUNCIL_NOTE)
    expect(kept.events.map((e) => e.type)).toContain('case.updated')
  })

  it('are not in Open311: requests, one request or the status updates, JSON or XML', async () => {
    for (const fmt of ['json', 'xml']) {
      for (const path of [`/requests.${fmt}`, `/requests/${refs.kept}.${fmt}`, `/requests/${refs.merged}.${fmt}`, `/servicerequestupdates.${fmt}`]) {
        const res = await ctx.app.inject({ method: 'GET', url: `/open311/v2${path}?jurisdiction_id=${WESTMINSTER}&api_key=${key}` })
        expect(res.statusCode, path).toBe(200)
        expectNoSecret(res.body, path)
        if (path.startsWith('/servicerequestupdates')) expect(res.body).toContain('A crew is booked')
      }
    }
  })

  it("are not sent to the council's webhook subscriber, which gets the council's own note and status", async () => {
    const bodies = hook.requests.map((r) => r.body)
    expect(bodies.length).toBeGreaterThan(0)
    for (const body of bodies) expectNoSecret(body, 'a webhook body')
    // each event sent stands for a case event a webhook may carry
    const sent = bodies.map((b) => JSON.parse(b) as { type: string; data: { event: { case_event_id: number } } })
    const ids = sent.map((s) => s.data.event.case_event_id)
    const sources = await ctx.query<{ id: string; type: string }>('select id::text, type from case_events where id = any($1::bigint[])', [ids])
    expect(sources.filter((s) => !(eventTypesFor('webhook') as string[]).includes(s.type))).toEqual([])
    expect(bodies.some((b) => b.includes(COUNCIL_NOTE))).toBe(true)
    expect(sent.map((s) => s.type)).toEqual(expect.arrayContaining(['case.created', 'case.routed', 'case.updated', 'message.created']))
  })

  it("are still in operators' audit trail, and agents are still told of the transfer", async () => {
    const res = await ctx.app.inject({ method: 'GET', url: `/v1/admin/cases/${refs.kept}`, headers: { authorization: `Bearer ${OPERATOR_KEY}` } })
    expect(res.statusCode).toBe(200)
    for (const s of SECRETS) expect(res.body).toContain(s)
    const types = (res.json() as { events: { type: string }[] }).events.map((e) => e.type)
    expect(types).toEqual(expect.arrayContaining(['note.internal', 'case.transferred', 'case.merged', 'case.work_status_changed']))
    await waitFor(async () => live.some((e) => e.type === 'case.assigned' && e.case?.reference === refs.kept), 10_000, 'the transfer on the live view')
  })
})

describe('the table and the database', () => {
  it('has an audience for every event this run wrote', async () => {
    const written = await ctx.query<{ type: string }>('select distinct type from case_events order by type')
    expect(written.map((r) => r.type).filter((t) => !(t in EVENT_AUDIENCES))).toEqual([])
  })

  it('names the same webhook events as the fan-out trigger', async () => {
    const types = [...Object.keys(EVENT_AUDIENCES), 'note.internal', 'case.rerouted', 'case.status_changed', 'some.new_type']
    const rows = await ctx.query<{ type: string; hook: string | null }>('select t as type, case_event_webhook_type(t) as hook from unnest($1::text[]) as t', [types])
    const expected = Object.fromEntries(types.map((t) => [t, (WEBHOOK_NAME_OF as Record<string, string>)[t] ?? null]))
    expect(Object.fromEntries(rows.map((r) => [r.type, r.hook]))).toEqual(expected)
    // and the trigger asks it, rather than keeping a list of its own
    const [fn] = await ctx.query<{ def: string }>(`select pg_get_functiondef('webhook_fan_out'::regproc) as def`)
    expect(fn!.def).toContain('case_event_webhook_type(new.type)')
  })
})
