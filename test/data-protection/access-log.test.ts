import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgent } from '../../src/agents/accounts.js'
import { createApiKey } from '../../src/councils/api-keys.js'
import { OPERATOR_KEY, createTestContext, postContact, waitPlaced, type TestContext } from '../helpers/context.js'
import { WESTMINSTER } from '../helpers/councils.js'

// The read log (docs/data-protection.md, item 5 of issue 12): every read of a case's
// personal data by a council key, an agent or an operator is on record before the answer
// goes, and the council's data protection officer can list them by case reference.

interface Read {
  at: string
  actor_kind: string
  actor: string
  route: string
  request_id: string | null
}

let ctx: TestContext
let councilKey: { key: string; id: number }
let agent: { id: number; token: string }
let n = 0

beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true, mail: 'demo' })
  const made = await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read', 'write', 'open311'])
  councilKey = { key: made.key, id: Number(made.id) }
  const email = `dpo-test-agent.${Date.now()}@council.example`
  const account = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'supervisor' })
  const login = await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password: account.password } })
  expect(login.statusCode, login.body).toBe(200)
  agent = { id: account.id, token: login.json().token }
}, 30_000)
afterAll(async () => {
  await ctx?.close()
})

/** A web contact in Westminster from a resident of its own, placed by the routing worker. */
async function reportCase() {
  const i = ++n
  const res = await postContact(ctx, {
    name: `Ada Fictitious ${i}`,
    email: `ada.fictitious.${i}.${Date.now()}@example.org`,
    postcode: 'SW1A 1AA',
    service_code: 'council_tax',
    description: `My council tax bill ${i} names the wrong flat`
  })
  expect(res.statusCode, res.body).toBe(202)
  const reference = res.json().reference as string
  await waitPlaced(ctx, reference)
  return reference
}

const as = (token: string) => ({ authorization: `Bearer ${token}` })
const asKey = () => as(councilKey.key)
const asAgent = () => as(agent.token)
const asOperator = () => as(OPERATOR_KEY)

async function accessLog(query: string) {
  return ctx.app.inject({ method: 'GET', url: `/v1/admin/access-log?${query}`, headers: asOperator() })
}
async function readsOf(reference: string): Promise<Read[]> {
  const res = await accessLog(`reference=${reference}&limit=1000`)
  expect(res.statusCode, res.body).toBe(200)
  return res.json().reads
}
const totalReads = async () => (await ctx.query<{ n: number }>('select count(*)::int as n from access_log'))[0]!.n

describe('the read log', () => {
  it("records each read of a case by a council key, an agent and the operator, and lists exactly those, oldest first", async () => {
    const reference = await reportCase()
    expect(await readsOf(reference)).toEqual([])

    const steps: { res: Awaited<ReturnType<typeof ctx.app.inject>>; actor_kind: string; actor: string; route: string }[] = []
    const step = async (actor_kind: string, actor: string, route: string, res: Awaited<ReturnType<typeof ctx.app.inject>>) => {
      expect(res.statusCode, res.body).toBeLessThan(300)
      steps.push({ res, actor_kind, actor, route })
    }
    const byKey = await ctx.app.inject({ method: 'GET', url: `/v1/cases/${reference}`, headers: asKey() })
    expect(byKey.json().description).toContain('wrong flat')
    await step('council_key', `api_key:${councilKey.id}`, 'GET /v1/cases/:reference', byKey)
    const queue = await ctx.app.inject({ method: 'GET', url: '/v1/agent/queue?limit=200', headers: asAgent() })
    expect(queue.json().cases.map((c: { reference: string }) => c.reference)).toContain(reference)
    await step('agent', `agent:${agent.id}`, 'GET /v1/agent/queue', queue)
    await step('agent', `agent:${agent.id}`, 'POST /v1/agent/cases/:reference/claim', await ctx.app.inject({ method: 'POST', url: `/v1/agent/cases/${reference}/claim`, headers: asAgent() }))
    await step('operator', 'operator', 'GET /v1/admin/cases/:reference', await ctx.app.inject({ method: 'GET', url: `/v1/admin/cases/${reference}`, headers: asOperator() }))
    const messages = await ctx.app.inject({ method: 'GET', url: `/v1/admin/cases/${reference}/messages`, headers: asOperator() })
    expect(messages.json()[0].body).toContain('wrong flat')
    await step('operator', 'operator', 'GET /v1/admin/cases/:reference/messages', messages)
    const open311 = await ctx.app.inject({ method: 'GET', url: `/open311/v2/requests/${reference}.json?jurisdiction_id=${WESTMINSTER}&api_key=${councilKey.key}` })
    expect(open311.json()[0].description).toContain('wrong flat')
    await step('council_key', `api_key:${councilKey.id}`, 'GET /open311/v2/requests/:service_request_id.json', open311)

    const reads = await readsOf(reference)
    expect(reads.map(({ actor_kind, actor, route, request_id }) => ({ actor_kind, actor, route, request_id }))).toEqual(
      steps.map((s) => ({ actor_kind: s.actor_kind, actor: s.actor, route: s.route, request_id: s.res.headers['x-request-id'] }))
    )
    // oldest first, each stamped when it happened
    const times = reads.map((r) => Date.parse(r.at))
    expect([...times].sort((a, b) => a - b)).toEqual(times)
    expect(times.every((t) => Math.abs(Date.now() - t) < 60_000)).toBe(true)
    // the route's pattern is kept, never the URL with its query (which can carry an api_key)
    const [raw] = await ctx.query<{ routes: string[] }>('select array_agg(route) as routes from access_log where reference = $1', [reference])
    expect(raw!.routes.join(' ')).not.toContain(councilKey.key)

    // the officer can narrow to one actor, or to every actor of a kind, and reading the log records nothing
    const before = await totalReads()
    const ofAgent = (await accessLog(`reference=${reference}&actor=agent:${agent.id}`)).json().reads as Read[]
    expect(ofAgent.map((r) => r.route)).toEqual(['GET /v1/agent/queue', 'POST /v1/agent/cases/:reference/claim'])
    const ofKeys = (await accessLog(`reference=${reference.toLowerCase()}&actor=council_key`)).json().reads as Read[]
    expect(ofKeys.map((r) => r.actor)).toEqual([`api_key:${councilKey.id}`, `api_key:${councilKey.id}`])
    expect(await totalReads()).toBe(before)
  })

  it('pages with limit and since, missing none and repeating none', async () => {
    const reference = await reportCase()
    for (let i = 0; i < 5; i++) expect((await ctx.app.inject({ method: 'GET', url: `/v1/cases/${reference}`, headers: asKey() })).statusCode).toBe(200)
    const all = await readsOf(reference)
    expect(all).toHaveLength(5)
    const seen: Read[] = []
    let since: string | null = null
    for (let pages = 0; pages < 10; pages++) {
      const page = (await accessLog(`reference=${reference}&limit=2${since ? `&since=${encodeURIComponent(since)}` : ''}`)).json() as { reads: Read[]; next_since: string | null }
      seen.push(...page.reads)
      since = page.next_since
      if (!since) break
    }
    expect(seen.map((r) => r.request_id)).toEqual(all.map((r) => r.request_id))
  })

  it('answers 404 for a reference no case has, and 401 without the operator key', async () => {
    const reference = await reportCase()
    const missing = await accessLog(`reference=${reference.slice(0, -1)}${reference.endsWith('A') ? 'B' : 'A'}`)
    expect(missing.statusCode, missing.body).toBe(404)
    expect(missing.json().code).toBe('not_found')
    expect((await accessLog('reference=not-a-reference')).statusCode).toBe(400)
    expect((await ctx.app.inject({ method: 'GET', url: `/v1/admin/access-log?reference=${reference}` })).statusCode).toBe(401)
    expect((await ctx.app.inject({ method: 'GET', url: `/v1/admin/access-log?reference=${reference}`, headers: asKey() })).statusCode).toBe(401)
  })

  it('records one read per case for a list, in one statement', async () => {
    const references = [await reportCase(), await reportCase(), await reportCase()]
    const list = await ctx.app.inject({ method: 'GET', url: '/v1/cases?limit=500', headers: asKey() })
    expect(list.statusCode).toBe(200)
    const listed = (list.json().cases as { reference: string }[]).map((c) => c.reference)
    expect(listed).toEqual(expect.arrayContaining(references))
    const rows = await ctx.query<{ reference: string; xmin: string }>(
      `select reference, xmin::text from access_log where request_id = $1 and route = 'GET /v1/cases' and actor = $2`,
      [list.headers['x-request-id'], `api_key:${councilKey.id}`]
    )
    expect(rows.map((r) => r.reference).sort()).toEqual([...listed].sort())
    // one transaction wrote them all (a multi-row insert), not one round trip per case
    expect(new Set(rows.map((r) => r.xmin)).size).toBe(1)

    // Open311's list with the council's key records each request it answers; without a key it shows nothing personal and records nothing
    const window = `start_date=${encodeURIComponent(new Date(Date.now() - 3600_000).toISOString())}`
    const keyed = await ctx.app.inject({ method: 'GET', url: `/open311/v2/requests.json?jurisdiction_id=${WESTMINSTER}&${window}&api_key=${councilKey.key}` })
    expect(keyed.statusCode, keyed.body).toBe(200)
    const answered = (keyed.json() as { service_request_id: string }[]).map((r) => r.service_request_id)
    expect(answered).toEqual(expect.arrayContaining(references))
    const open311Rows = await ctx.query<{ reference: string }>('select reference from access_log where request_id = $1', [keyed.headers['x-request-id']])
    expect(open311Rows.map((r) => r.reference).sort()).toEqual([...answered].sort())

    // the operator's triage list shows each case's postcode: a read of each listed
    const triaged = await postContact(ctx, { name: 'Bo Fictitious', email: `bo.${Date.now()}@example.org`, postcode: 'SE12 8AA', service_code: 'missed_bin', description: 'Bin not collected' })
    const triageRef = triaged.json().reference as string
    expect((await waitPlaced(ctx, triageRef)).status).toBe('triage')
    const triage = await ctx.app.inject({ method: 'GET', url: '/v1/admin/triage', headers: asOperator() })
    const inTriage = (triage.json() as { reference: string }[]).map((c) => c.reference)
    expect(inTriage).toContain(triageRef)
    const triageRows = await ctx.query<{ reference: string; actor: string; route: string }>('select reference, actor, route from access_log where request_id = $1', [triage.headers['x-request-id']])
    expect(triageRows.map((r) => r.reference).sort()).toEqual([...inTriage].sort())
    expect(new Set(triageRows.map((r) => `${r.actor} ${r.route}`))).toEqual(new Set(['operator GET /v1/admin/triage']))
  })

  it("records an operator opening a mail's HTML or an attachment as a read of its case", async () => {
    const reference = await reportCase()
    // the web contact's own message, given an HTML part and an attachment as an email's would have
    const [message] = await ctx.query<{ id: number }>(
      `update messages m set html = '<p>Photo of my bill</p>' from cases c where c.id = m.case_id and c.reference = $1 returning m.id`,
      [reference]
    )
    const [medium] = await ctx.query<{ storage_key: string }>(
      `insert into message_media (message_id, position, content_type, state, size_bytes, content, filename)
       values ($1, 0, 'image/png', 'stored', 3, $2, 'bill.png') returning storage_key`,
      [message!.id, Buffer.from([1, 2, 3])]
    )
    const html = await ctx.app.inject({ method: 'GET', url: `/v1/admin/messages/${message!.id}/html`, headers: asOperator() })
    expect(html.body).toContain('Photo of my bill')
    const file = await ctx.app.inject({ method: 'GET', url: `/v1/admin/attachments/${medium!.storage_key}`, headers: asOperator() })
    expect(file.rawPayload).toEqual(Buffer.from([1, 2, 3]))
    expect((await readsOf(reference)).map((r) => [r.actor, r.route, r.request_id])).toEqual([
      ['operator', 'GET /v1/admin/messages/:id/html', html.headers['x-request-id']],
      ['operator', 'GET /v1/admin/attachments/:key', file.headers['x-request-id']]
    ])
  })

  it('records nothing for routes that show no personal data', async () => {
    const reference = await reportCase()
    const before = await totalReads()
    const calls = [
      ctx.app.inject({ method: 'GET', url: '/v1/admin/cases-without-destination', headers: asOperator() }),
      ctx.app.inject({ method: 'POST', url: `/v1/cases/${reference}/notes`, headers: asKey(), payload: { body: 'Checked the banding' } }),
      ctx.app.inject({ method: 'GET', url: '/v1/supervisor/overview', headers: asAgent() }),
      ctx.app.inject({ method: 'GET', url: `/open311/v2/tokens/${reference}.json?jurisdiction_id=${WESTMINSTER}&api_key=${councilKey.key}` }),
      ctx.app.inject({ method: 'GET', url: `/open311/v2/requests.json?jurisdiction_id=${WESTMINSTER}` }),
      ctx.app.inject({ method: 'GET', url: `/v1/admin/access-log?reference=${reference}`, headers: asOperator() })
    ]
    for (const res of await Promise.all(calls)) expect(res.statusCode, res.body).toBeLessThan(300)
    expect(await totalReads()).toBe(before)
    expect(await readsOf(reference)).toEqual([])
  })

  it('serves no read it could not record', async () => {
    const reference = await reportCase()
    // the log refuses the write (as it would with Postgres read-only or the table locked)
    await ctx.query(`create function refuse_reads() returns trigger language plpgsql as $$ begin raise exception 'no reads today'; end $$`)
    await ctx.query('create trigger refuse_reads before insert on access_log for each row execute function refuse_reads()')
    try {
      const res = await ctx.app.inject({ method: 'GET', url: `/v1/cases/${reference}`, headers: asKey() })
      expect(res.statusCode).toBeGreaterThanOrEqual(500)
      expect(res.body).not.toContain('wrong flat')
      expect(res.body).not.toContain('Ada Fictitious')
    } finally {
      await ctx.query('drop trigger refuse_reads on access_log')
      await ctx.query('drop function refuse_reads()')
    }
    expect((await ctx.app.inject({ method: 'GET', url: `/v1/cases/${reference}`, headers: asKey() })).statusCode).toBe(200)
    expect(await readsOf(reference)).toHaveLength(1)
  })

  it('cannot be changed or deleted: a plain UPDATE or DELETE throws and the rows stay as they were', async () => {
    const reference = await reportCase()
    await ctx.app.inject({ method: 'GET', url: `/v1/cases/${reference}`, headers: asKey() })
    const before = await ctx.query('select * from access_log where reference = $1 order by id', [reference])
    expect(before).toHaveLength(1)
    await expect(ctx.query(`update access_log set actor = 'agent:1' where reference = $1`, [reference])).rejects.toThrow(/append-only/)
    await expect(ctx.query('delete from access_log where reference = $1', [reference])).rejects.toThrow(/append-only/)
    await expect(ctx.query('delete from access_log')).rejects.toThrow(/append-only/)
    expect(await ctx.query('select * from access_log where reference = $1 order by id', [reference])).toEqual(before)
  })
})
