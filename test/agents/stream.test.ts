import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { agentSessions } from '../../src/agents/sessions.js'
import { agentTokens } from '../../src/agents/tokens.js'
import { LIVE_TYPES } from '../../src/realtime/hub.js'
import { buildApp } from '../../src/app.js'
import { createTestContext, postContact, waitFor, waitPlaced, type TestContext } from '../helpers/context.js'
import { WESTMINSTER } from '../helpers/councils.js'

let ctx: TestContext
let second: Awaited<ReturnType<typeof buildApp>>
let urlA = ''
let urlB = ''
const sockets: WebSocket[] = []

beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  // a second API process on the same Postgres and Redis: its own listener, its own sockets
  second = await buildApp(ctx.infra)
  urlA = (await ctx.app.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws')
  urlB = (await second.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws')
})
afterAll(async () => {
  for (const s of sockets) s.terminate()
  await second?.close()
  await ctx?.close()
})

let n = 0
async function agent(partnership: string, role: 'agent' | 'supervisor' = 'agent') {
  const [row] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, role, password_hash) values ($1, $2, $3, 'not-a-login') returning id`,
    [partnership, `agent.${++n}.${Date.now()}@switchboard.test`, role]
  )
  return { id: row!.id, token: await agentSessions(ctx.infra).sign({ agentId: row!.id, partnershipId: partnership, role }) }
}

/** Connects, and collects every message until the test ends (with ?batch=1, each frame's array of events, and the frames' sizes). */
async function connect(url: string, token: string, query = '') {
  const received: Record<string, unknown>[] = []
  const frames: number[] = []
  const ws = new WebSocket(`${url}/v1/agent/stream${query}`, { headers: { authorization: `Bearer ${token}` } })
  sockets.push(ws)
  ws.on('message', (data, isBinary) => {
    // text frames, as a browser's WebSocket hands them to the page: strings, not Blobs
    if (isBinary) throw new Error('the live view sent a binary frame')
    const parsed = JSON.parse(String(data)) as Record<string, unknown> | Record<string, unknown>[]
    if (query.includes('batch=1') && !Array.isArray(parsed)) throw new Error('a batched socket was sent a frame that is not an array')
    if (!query.includes('batch=1') && Array.isArray(parsed)) throw new Error('a socket that did not ask for batches was sent an array')
    frames.push(Array.isArray(parsed) ? parsed.length : 1)
    received.push(...(Array.isArray(parsed) ? parsed : [parsed]))
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return { ws, received, frames }
}

const about = (received: Record<string, unknown>[], reference: string) => received.filter((e) => (e.case as { reference?: string } | undefined)?.reference === reference)

describe('the live view', () => {
  it('is announced by Postgres for exactly the case events the hub shows agents', async () => {
    // the trigger's test (case_event_is_live, src/realtime/sql/announce.sql) and LIVE_TYPES must name the same events, or some never arrive
    const [trigger] = await ctx.query<{ def: string }>(`select pg_get_functiondef('announce_case_event'::regproc) as def`)
    expect(trigger!.def).toContain('case_event_is_live(new.type)')
    const [fn] = await ctx.query<{ def: string }>(`select pg_get_functiondef('case_event_is_live'::regproc) as def`)
    const named = [...fn!.def.matchAll(/'([a-z_]+\.[a-z_]+)'/g)].map((m) => m[1]).sort()
    expect(named).toEqual(Object.keys(LIVE_TYPES).sort())
  })

  it('refuses a connection without a valid agent token', async () => {
    const refused = new WebSocket(`${urlA}/v1/agent/stream`)
    const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))
    expect(status).toBe(401)
    const forged = new WebSocket(`${urlA}/v1/agent/stream?token=${agentTokens('some-other-secret-0123456789abcdef', 15).sign({ agentId: 1, partnershipId: 'tri-borough', role: 'admin' })}`)
    expect(await new Promise<number>((resolve) => forged.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))).toBe(401)
  })

  it("shows a case created through one API process to an agent connected to another, once, and nothing of it to another partnership's agent", async () => {
    const tri = await agent('tri-borough')
    const other = await agent('brent-lewisham')
    const onB = await connect(urlB, tri.token)
    const onA = await connect(urlA, tri.token)
    const elsewhere = await connect(urlA, other.token)
    // created through process A (app.inject: the same app that listens on A)
    const reference = (await postContact(ctx, { email: `live.${n}@example.org`, postcode: 'SW1A 1AA', description: 'Fly-tipping behind the shops' })).json().reference as string
    await waitPlaced(ctx, reference)
    for (const seen of [onB, onA]) {
      const events = await waitFor(async () => {
        const mine = about(seen.received, reference)
        return mine.some((e) => e.type === 'case.routed') ? mine : null
      }, 10_000, 'the events at the agent')
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['case.created', 'case.routed']))
      // each event once, however many processes listen to Postgres
      const keys = events.map((e) => `${e.type}:${e.event_id}`)
      expect(new Set(keys).size).toBe(keys.length)
      expect(events[0]).toMatchObject({ partnership_id: 'tri-borough', case: { council_gss: WESTMINSTER } })
    }
    // a later case of their own is the sentinel: any of ours sent to them would have come first
    const theirs = (await postContact(ctx, { email: `live.brent.${n}@example.org`, postcode: 'HA9 0FJ', description: 'Fly-tipping behind the shops' })).json().reference as string
    await waitFor(async () => about(elsewhere.received, theirs).some((e) => e.type === 'case.routed'), 10_000, "their own case's events")
    expect(about(elsewhere.received, reference)).toEqual([])
    expect(elsewhere.received.every((e) => e.partnership_id === 'brent-lewisham')).toBe(true)
  })

  it('sends a client that asks for batches the events of a burst as arrays, every event once', async () => {
    const tri = await agent('tri-borough')
    const batched = await connect(urlA, tri.token, '?batch=1')
    const single = await connect(urlA, tri.token)
    const references = await Promise.all(
      Array.from({ length: 8 }, async (_, i) =>
        (await postContact(ctx, { email: `burst.${n}.${i}@example.org`, postcode: 'SW1A 1AA', description: 'Fly-tipping behind the shops' })).json().reference as string
      )
    )
    for (const seen of [batched, single]) {
      await waitFor(async () => references.every((r) => about(seen.received, r).some((e) => e.type === 'case.routed')), 15_000, 'every case routed, at the agent')
    }
    const keysOf = (seen: { received: Record<string, unknown>[] }) => seen.received.filter((e) => e.event_id).map((e) => `${String(e.type)}:${String(e.event_id)}`)
    const batchedKeys = keysOf(batched)
    expect(new Set(batchedKeys).size).toBe(batchedKeys.length)
    // the same events either way, each once (the single-frame socket may have caught a few more since)
    expect(keysOf(single)).toEqual(expect.arrayContaining(batchedKeys))
    // a burst of eight cases came in fewer frames than events
    expect(batched.frames.length).toBeLessThan(batched.received.length)
  })

  it("keeps agents' presence, and tells colleagues who is viewing a case", async () => {
    const watcher = await agent('tri-borough', 'supervisor')
    const worker = await agent('tri-borough')
    const sees = await connect(urlA, watcher.token)
    const works = await connect(urlB, worker.token)
    await waitFor(async () => (await ctx.query<{ presence: string }>('select presence from agents where id = $1', [worker.id]))[0]?.presence === 'online', 5_000, 'online')
    const [c] = await ctx.query<{ reference: string }>(`select reference from cases where partnership_id = 'tri-borough' limit 1`)
    works.ws.send(JSON.stringify({ type: 'viewing', reference: c!.reference }))
    works.ws.send(JSON.stringify({ type: 'heartbeat', presence: 'away' }))
    const viewing = await waitFor(async () => sees.received.find((e) => e.type === 'case.viewers' && e.agent_id === worker.id), 5_000, 'the viewing event')
    expect(viewing.detail).toEqual({ reference: c!.reference, activity: 'viewing' })
    await waitFor(async () => sees.received.find((e) => e.type === 'presence' && e.agent_id === worker.id && (e.detail as { presence: string }).presence === 'away'), 5_000, 'away')
    works.ws.close()
    await waitFor(async () => (await ctx.query<{ presence: string }>('select presence from agents where id = $1', [worker.id]))[0]?.presence === 'offline', 5_000, 'offline')
    await waitFor(async () => sees.received.find((e) => e.type === 'presence' && e.agent_id === worker.id && (e.detail as { presence: string }).presence === 'offline'), 5_000, 'offline event')
  })

  it('marks a whole team that reconnects at once online, each announced to colleagues once, and offline when they go', async () => {
    const watcher = await agent('tri-borough', 'supervisor')
    const sees = await connect(urlA, watcher.token)
    const team = await Promise.all(Array.from({ length: 25 }, () => agent('tri-borough')))
    const ids = team.map((a) => a.id)
    const open = await Promise.all(team.map((a, i) => connect(i % 2 ? urlA : urlB, a.token)))
    const presenceOf = async () =>
      new Set((await ctx.query<{ presence: string }>('select presence from agents where id = any($1::bigint[])', [ids])).map((r) => r.presence))
    await waitFor(async () => { const p = await presenceOf(); return p.size === 1 && p.has('online') }, 10_000, 'all online')
    const announced = (presence: string) =>
      sees.received.filter((e) => e.type === 'presence' && ids.includes(e.agent_id as number) && (e.detail as { presence: string }).presence === presence)
    await waitFor(async () => announced('online').length >= ids.length, 10_000, 'every online announced')
    expect(new Set(announced('online').map((e) => e.agent_id)).size).toBe(ids.length)
    expect(announced('online')).toHaveLength(ids.length)

    for (const o of open) o.ws.close()
    await waitFor(async () => { const p = await presenceOf(); return p.size === 1 && p.has('offline') }, 10_000, 'all offline')
    await waitFor(async () => announced('offline').length >= ids.length, 10_000, 'every offline announced')
    expect(announced('offline')).toHaveLength(ids.length)
  })
})
