import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { agentSessions } from '../../src/agents/sessions.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { createTestContext, waitFor, type TestContext } from '../helpers/context.js'

// The live view against abuse: what one token can make the server do is bounded.
const MAX_SOCKETS = 3

let ctx: TestContext
let url = ''
beforeAll(async () => {
  ctx = await createTestContext({ AGENT_MAX_SOCKETS: MAX_SOCKETS }, { mail: 'demo' })
  url = (await ctx.app.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws')
  // every write to an agent's presence, counted by Postgres itself (this file's database only)
  await ctx.query(`create table test_presence_writes (agent_id bigint not null, presence text not null)`)
  await ctx.query(`create function test_count_presence() returns trigger language plpgsql as $$
                   begin insert into test_presence_writes values (new.id, new.presence); return null; end $$`)
  await ctx.query(`create trigger test_count_presence after update of presence, presence_at on agents for each row execute function test_count_presence()`)
})
afterAll(async () => {
  for (const s of sockets) s.terminate()
  await ctx?.close()
})

const sockets: WebSocket[] = []
const tag = randomBytes(4).toString('hex')
let n = 0
async function agent(role: 'agent' | 'supervisor' = 'agent') {
  const [row] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, role, password_hash) values ('tri-borough', $1, $2, 'not-a-login') returning id`,
    [`limits.${tag}.${++n}@switchboard.test`, role]
  )
  return { id: row!.id, token: await agentSessions(ctx.infra).sign({ agentId: row!.id, partnershipId: 'tri-borough', role }) }
}

/** Connects; resolves once open (or closed first), with every message and how it closed. */
async function connect(token: string) {
  const received: Array<Record<string, unknown>> = []
  const ws = new WebSocket(`${url}/v1/agent/stream`, { headers: { authorization: `Bearer ${token}` } })
  sockets.push(ws)
  ws.on('message', (data) => received.push(JSON.parse(String(data)) as Record<string, unknown>))
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return { ws, received, closed }
}

const writesOf = async (agentId: number) => (await ctx.query<{ presence: string }>('select presence from test_presence_writes where agent_id = $1', [agentId])).map((r) => r.presence)
const presenceEvents = (received: Array<Record<string, unknown>>, agentId: number) =>
  received.filter((e) => e.type === 'presence' && e.agent_id === agentId).map((e) => (e.detail as { presence: string }).presence)

describe('heartbeats', () => {
  it('that change nothing write nothing and tell colleagues nothing', async () => {
    const watcher = await agent('supervisor')
    const jo = await agent()
    const sees = await connect(watcher.token)
    const works = await connect(jo.token)
    await waitFor(async () => presenceEvents(sees.received, jo.id).includes('online'), 5_000, 'online')
    for (let i = 0; i < 10; i++) works.ws.send(JSON.stringify({ type: 'heartbeat', presence: 'online' }))
    works.ws.send(JSON.stringify({ type: 'heartbeat', presence: 'away' }))
    // the change comes after the ten that changed nothing: once it is here, they were handled
    await waitFor(async () => presenceEvents(sees.received, jo.id).includes('away'), 5_000, 'away')
    expect(presenceEvents(sees.received, jo.id)).toEqual(['online', 'away'])
    expect(await writesOf(jo.id)).toEqual(['online', 'away'])
    sees.ws.close()
    works.ws.close()
  })

  it('sent as a flood close the socket with 4429, after a handful of writes at most', async () => {
    const watcher = await agent('supervisor')
    const flooder = await agent()
    const sees = await connect(watcher.token)
    const floods = await connect(flooder.token)
    await waitFor(async () => presenceEvents(sees.received, flooder.id).includes('online'), 5_000, 'online')
    // 5,000 heartbeats at once, alternating so that each one would be a change
    for (let i = 0; i < 5_000; i++) floods.ws.send(JSON.stringify({ type: 'heartbeat', presence: i % 2 ? 'online' : 'away' }))
    expect(await floods.closed).toEqual({ code: 4429, reason: 'too many messages' })
    // offline is the last word about the flooder: everything before it has arrived
    await waitFor(async () => presenceEvents(sees.received, flooder.id).at(-1) === 'offline', 5_000, 'offline')
    const writes = await writesOf(flooder.id)
    // the open, at most a burst's worth of changes (20), the close
    expect(writes.length).toBeLessThanOrEqual(22)
    expect(presenceEvents(sees.received, flooder.id).length).toBeLessThanOrEqual(22)
    sees.ws.close()
  })
})

describe('"viewing" and "replying"', () => {
  it('are said to colleagues once while nothing changes, and a flood closes the socket with 4429', async () => {
    const watcher = await agent('supervisor')
    const jo = await agent()
    const reference = newCaseReference()
    await ctx.query(
      `with r as (insert into residents default values returning id)
       insert into cases (reference, resident_id, channel, partnership_id, council_gss) select $1, r.id, 'web', 'tri-borough', 'E09000033' from r`,
      [reference]
    )
    const sees = await connect(watcher.token)
    const works = await connect(jo.token)
    const viewers = () => sees.received.filter((e) => e.type === 'case.viewers' && e.agent_id === jo.id).map((e) => (e.detail as { activity: string }).activity)
    for (let i = 0; i < 5; i++) works.ws.send(JSON.stringify({ type: 'viewing', reference }))
    works.ws.send(JSON.stringify({ type: 'replying', reference }))
    await waitFor(async () => viewers().includes('replying'), 5_000, 'replying')
    expect(viewers()).toEqual(['viewing', 'replying'])

    for (let i = 0; i < 1_000; i++) works.ws.send(JSON.stringify({ type: i % 2 ? 'viewing' : 'replying', reference }))
    expect((await works.closed).code).toBe(4429)
    await waitFor(async () => presenceEvents(sees.received, jo.id).at(-1) === 'offline', 5_000, 'offline')
    expect(viewers().length).toBeLessThanOrEqual(2 + 20)
    sees.ws.close()
  })
})

describe('sockets per agent', () => {
  it(`are at most AGENT_MAX_SOCKETS (${MAX_SOCKETS}) on one process: one more is closed with 4429, and room comes back as one closes`, async () => {
    const jo = await agent()
    const open = []
    for (let i = 0; i < MAX_SOCKETS; i++) open.push(await connect(jo.token))
    const extra = await connect(jo.token)
    expect(await extra.closed).toEqual({ code: 4429, reason: 'too many live connections for this agent' })
    // the ones already open are untouched
    for (const s of open) expect(s.ws.readyState).toBe(WebSocket.OPEN)
    // a colleague's socket is not counted against Jo
    const colleague = await agent()
    const theirs = await connect(colleague.token)
    expect(theirs.ws.readyState).toBe(WebSocket.OPEN)

    open[0]!.ws.close()
    await open[0]!.closed
    const again = await connect(jo.token)
    // open, and still open once the server has had its say: a ping answered proves it
    await new Promise<void>((resolve) => {
      again.ws.once('pong', () => resolve())
      again.ws.ping()
    })
    expect(again.ws.readyState).toBe(WebSocket.OPEN)
    for (const s of [...open, again, theirs]) s.ws.close()
  })

  it('opened by the hundred from one token cost no more than the cap', async () => {
    const jo = await agent()
    const attempts = await Promise.all(Array.from({ length: 100 }, () => connect(jo.token)))
    const outcomes = await Promise.all(
      attempts.map(
        (a) =>
          new Promise<'open' | number>((resolve) => {
            a.closed.then(({ code }) => resolve(code))
            a.ws.once('pong', () => resolve('open'))
            a.ws.ping()
          })
      )
    )
    expect(outcomes.filter((o) => o === 'open')).toHaveLength(MAX_SOCKETS)
    expect(outcomes.filter((o) => o === 4429)).toHaveLength(100 - MAX_SOCKETS)
    for (const a of attempts) a.ws.close()
  })
})

describe('case.created', () => {
  it('reaches agents once per case, even when routing commits before the live view reads the case', async () => {
    const jo = await agent()
    const live = await connect(jo.token)
    const references: string[] = []
    for (let i = 0; i < 5; i++) {
      // opened and placed in one transaction: both announcements reach the live view together,
      // as they do when routing is quicker than the live view (the all-in-one process)
      const reference = newCaseReference()
      references.push(reference)
      const client = await ctx.infra.db.connect()
      try {
        await client.query('begin')
        await client.query(
          `with r as (insert into residents default values returning id),
                c as (insert into cases (reference, resident_id, channel) select $1, r.id, 'web' from r returning id)
           insert into case_events (case_id, type, actor, reason) select id, 'case.opened', 'intake:web', 'test' from c`,
          [reference]
        )
        await client.query(
          `with placed as (update cases set partnership_id = 'tri-borough', council_gss = 'E09000033', status = 'routed' where reference = $1 returning id)
           insert into case_events (case_id, type, actor, reason) select id, 'case.routed', 'worker:route', 'test' from placed`,
          [reference]
        )
        await client.query('commit')
      } finally {
        client.release()
      }
    }
    const about = (reference: string) => live.received.filter((e) => (e.case as { reference?: string } | undefined)?.reference === reference).map((e) => e.type)
    // a case's events of one transaction go out in one message: with its case.routed here, all of them are
    await waitFor(async () => references.every((r) => about(r).includes('case.routed')), 10_000, 'every case routed at the agent')
    for (const reference of references) expect(about(reference).filter((t) => t === 'case.created'), reference).toEqual(['case.created'])
    live.ws.close()
  })
})
