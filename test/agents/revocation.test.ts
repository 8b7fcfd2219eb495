import { createHmac, randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { createAgent, setAgentActive } from '../../src/agents/accounts.js'
import { agentSessions, tokenSecret } from '../../src/agents/sessions.js'
import { agentTokens } from '../../src/agents/tokens.js'
import { buildApp } from '../../src/app.js'
import { DEMO_OPERATOR_KEY } from '../../src/config.js'
import type { Db } from '../../src/db/pool.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { validatorCompiler } from '../../src/lib/validator-compiler.js'
import { errorHandler } from '../../src/plugins/error-handler.js'
import { infraDecorators } from '../../src/plugins/infra.js'
import { agentRoutes } from '../../src/routes/agents/workspace.js'
import { createTestContext, waitFor, type TestContext } from '../helpers/context.js'

// a disabled agent is refused within this; the live view hears of it sooner, from Postgres
const REVOCATION_S = 2

let ctx: TestContext
let url = ''
beforeAll(async () => {
  ctx = await createTestContext({ AGENT_REVOCATION_S: REVOCATION_S }, { mail: 'demo' })
  url = (await ctx.app.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws')
})
afterAll(async () => {
  await ctx?.close()
})

const tag = randomBytes(4).toString('hex')
let n = 0
/** An agent who logged in through the API, as a person would. */
async function loggedIn(role: 'agent' | 'supervisor' = 'agent') {
  const email = `revoke.${tag}.${++n}@council.example`
  const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role })
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email, password: made.password }) })
  expect(res.statusCode, res.body).toBe(200)
  const token = res.json().token as string
  return { id: made.id, email, password: made.password, token, auth: { authorization: `Bearer ${token}` } }
}

async function partnershipCase() {
  const reference = newCaseReference()
  await ctx.query(
    `with r as (insert into residents default values returning id)
     insert into cases (reference, resident_id, channel, partnership_id, council_gss, work_status) select $1, r.id, 'web', 'tri-borough', 'E09000033', 'new' from r`,
    [reference]
  )
  return reference
}

/** The pool, counting the account reads of agent sessions made through it. */
function countingAccountReads(): { db: Db; reads: () => number } {
  let reads = 0
  const db = new Proxy(ctx.infra.db, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown
      return (q: { name?: string }, ...rest: unknown[]) => {
        if (q?.name === 'agent-sessions-read') reads++
        return (target.query as (...a: unknown[]) => unknown).call(target, q, ...rest)
      }
    }
  }) as Db
  return { db, reads: () => reads }
}

const queue = (auth: Record<string, string>) => ctx.app.inject({ method: 'GET', url: '/v1/agent/queue', headers: auth })

/** Connects to the live view; resolves once open, with every message and, later, how it closed. */
async function connect(token: string) {
  const received: Array<Record<string, unknown>> = []
  const ws = new WebSocket(`${url}/v1/agent/stream`, { headers: { authorization: `Bearer ${token}` } })
  ws.on('message', (data) => received.push(JSON.parse(String(data)) as Record<string, unknown>))
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return { ws, received, closed }
}

describe('a disabled agent', () => {
  it('can no longer read the queue, write notes or change a work status, within AGENT_REVOCATION_S', async () => {
    const jo = await loggedIn()
    const reference = await partnershipCase()
    expect((await queue(jo.auth)).statusCode).toBe(200)
    expect((await ctx.app.inject({ method: 'POST', url: `/v1/agent/cases/${reference}/claim`, headers: jo.auth })).statusCode).toBe(200)

    expect(await setAgentActive(ctx.infra.db, jo.email, false)).toEqual({ id: jo.id, active: false })
    const disabledAt = Date.now()
    await expect.poll(async () => (await queue(jo.auth)).statusCode, { timeout: REVOCATION_S * 1000 + 1_000, interval: 50 }).toBe(401)
    expect(Date.now() - disabledAt).toBeLessThan(REVOCATION_S * 1000 + 1_000)
    const events = () => ctx.query('select e.id from case_events e join cases c on c.id = e.case_id where c.reference = $1', [reference])
    const before = await events()
    const note = await ctx.app.inject({ method: 'POST', url: `/v1/agent/cases/${reference}/notes`, headers: jo.auth, payload: { body: 'still here?' } })
    expect(note.statusCode).toBe(401)
    const moved = await ctx.app.inject({ method: 'PATCH', url: `/v1/agent/cases/${reference}`, headers: jo.auth, payload: { work_status: 'resolved' } })
    expect(moved.statusCode).toBe(401)
    expect(await events()).toEqual(before)
    expect((await ctx.query<{ work_status: string }>('select work_status from cases where reference = $1', [reference]))[0]!.work_status).toBe('open')

    // enabled again: a new login works, the session from before the disable stays over
    await setAgentActive(ctx.infra.db, String(jo.id), true)
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email: jo.email, password: jo.password }) })
    expect(res.statusCode).toBe(200)
    expect((await queue({ authorization: `Bearer ${res.json().token}` })).statusCode).toBe(200)
    expect((await queue(jo.auth)).statusCode).toBe(401)
  })

  it('is refused within AGENT_REVOCATION_S by a process that hears nothing from Postgres, reading the account once meanwhile', async () => {
    // the routes with sessions of their own and no LiveHub: only the cache's lifetime ends the session
    const { db: counted, reads } = countingAccountReads()
    const app = Fastify({ logger: false })
    app.setValidatorCompiler(validatorCompiler)
    await app.register(errorHandler)
    await app.register(infraDecorators, { infra: { ...ctx.infra, db: counted } })
    await app.register(agentRoutes, { tokens: agentSessions({ db: counted, config: ctx.config }) })
    try {
      const jo = await loggedIn()
      const statuses = await Promise.all(Array.from({ length: 20 }, () => app.inject({ method: 'GET', url: '/v1/agent/queue', headers: jo.auth }).then((r) => r.statusCode)))
      expect(statuses.every((s) => s === 200)).toBe(true)
      // twenty requests at once, one read of the account: the check costs a map lookup
      expect(reads()).toBe(1)

      await setAgentActive(ctx.infra.db, jo.email, false)
      const disabledAt = Date.now()
      await expect.poll(async () => (await app.inject({ method: 'GET', url: '/v1/agent/queue', headers: jo.auth })).statusCode, { timeout: REVOCATION_S * 1000 + 1_000, interval: 100 }).toBe(401)
      expect(Date.now() - disabledAt).toBeLessThanOrEqual(REVOCATION_S * 1000 + 1_000)
    } finally {
      await app.close()
    }
  })

  it('is checked for a whole contact centre reconnecting at once in one read, each agent answered as their own account says', async () => {
    const { db: counted, reads } = countingAccountReads()
    const sessions = agentSessions({ db: counted, config: ctx.config })
    const desks = await Promise.all(Array.from({ length: 30 }, () => loggedIn()))
    const disabled = desks[7]!
    await setAgentActive(ctx.infra.db, disabled.email, false)
    // a token naming an agent that does not exist, signed like the rest
    const signer = agentTokens(await tokenSecret(ctx.infra.db, ctx.config.AGENT_TOKEN_SECRET), 5)
    const stranger = signer.sign({ agentId: 2_000_000_000, partnershipId: 'tri-borough', role: 'agent' })

    const answers = await Promise.all([...desks.map((d) => sessions.authenticate(d.token)), sessions.authenticate(stranger)])
    expect(reads()).toBe(1)
    expect(answers.map((a) => a?.agentId ?? null)).toEqual([...desks.map((d) => (d === disabled ? null : d.id)), null])
  })

  it("has their live sockets closed with 4401, and goes offline for colleagues", async () => {
    const colleague = await loggedIn('supervisor')
    const jo = await loggedIn()
    const sees = await connect(colleague.token)
    const works = await connect(jo.token)
    const presenceOf = (presence: string) => sees.received.find((e) => e.type === 'presence' && e.agent_id === jo.id && (e.detail as { presence?: string }).presence === presence)
    await waitFor(async () => presenceOf('online'), 5_000, 'online at the colleague')

    await setAgentActive(ctx.infra.db, jo.email, false)
    const closed = await closedWithin(works.closed, REVOCATION_S * 1000 + 1_000)
    expect(closed.code).toBe(4401)
    await waitFor(async () => presenceOf('offline'), 5_000, 'offline at the colleague')
    expect((await ctx.query<{ presence: string }>('select presence from agents where id = $1', [jo.id]))[0]!.presence).toBe('offline')

    // and cannot come back on the old token
    const again = new WebSocket(`${url}/v1/agent/stream?token=${jo.token}`)
    expect(await new Promise<number>((resolve) => again.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))).toBe(401)
    sees.ws.close()
  })
})

describe('a token', () => {
  it('for an agent that does not exist, or whose role changed since, is refused', async () => {
    const signed = agentTokens(await tokenSecret(ctx.infra.db, undefined), 15)
    expect((await queue({ authorization: `Bearer ${signed.sign({ agentId: 987_654_321, partnershipId: 'tri-borough', role: 'admin' })}` })).statusCode).toBe(401)

    const sup = await loggedIn('supervisor')
    expect((await queue(sup.auth)).statusCode).toBe(200)
    await ctx.query(`update agents set role = 'agent' where id = $1`, [sup.id])
    await expect.poll(async () => (await queue(sup.auth)).statusCode, { timeout: REVOCATION_S * 1000 + 1_000, interval: 50 }).toBe(401)
  })

  it('without an expiry is refused, even signed with the right secret', async () => {
    const jo = await loggedIn()
    const key = await tokenSecret(ctx.infra.db, undefined)
    const forever = createSigner({ key, algorithm: 'HS256', iss: 'switchboard', aud: 'agent' })({ sub: String(jo.id), ptn: 'tri-borough', role: 'agent', gen: 0 })
    expect((await queue({ authorization: `Bearer ${forever}` })).statusCode).toBe(401)
  })

  it('closes its live socket with 4401 when it expires', async () => {
    const jo = await loggedIn()
    const key = await tokenSecret(ctx.infra.db, undefined)
    const brief = createSigner({ key, algorithm: 'HS256', iss: 'switchboard', aud: 'agent', expiresIn: 2_000 })({ sub: String(jo.id), ptn: 'tri-borough', role: 'agent', gen: 0 })
    const expiresAt = (JSON.parse(Buffer.from(brief.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000
    const live = await connect(brief)
    const closed = await closedWithin(live.closed, 5_000)
    expect(closed).toEqual({ code: 4401, reason: expect.stringContaining('expired') })
    // open until the token's own expiry, not cut short
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 50)
  })
})

describe('the token secret outside production', () => {
  it('is random per database, shared by every process on it, never derived from the published operator key', async () => {
    expect(ctx.config.AGENT_TOKEN_SECRET).toBeUndefined()
    const secret = await tokenSecret(ctx.infra.db, undefined)
    // a token made the old way, from the demo key (or this file's operator key), is worth nothing
    for (const operatorKey of [DEMO_OPERATOR_KEY, ctx.config.OPERATOR_API_KEY]) {
      const guessed = createHmac('sha256', operatorKey).update('agent tokens').digest('base64url')
      expect(guessed).not.toBe(secret)
      const forged = agentTokens(guessed, 15).sign({ agentId: 1, partnershipId: 'tri-borough', role: 'admin' })
      expect((await queue({ authorization: `Bearer ${forged}` })).statusCode).toBe(401)
    }
    // a second API process on the same database accepts the first one's tokens
    const jo = await loggedIn()
    const second = await buildApp(ctx.infra)
    try {
      expect((await second.inject({ method: 'GET', url: '/v1/agent/queue', headers: jo.auth })).statusCode).toBe(200)
    } finally {
      await second.close()
    }
    // another database has a secret of its own
    const other = await createTestContext({}, { mail: 'demo' })
    try {
      expect(await tokenSecret(other.infra.db, undefined)).not.toBe(secret)
      expect((await other.app.inject({ method: 'GET', url: '/v1/agent/queue', headers: jo.auth })).statusCode).toBe(401)
    } finally {
      await other.close()
    }
  })
})

function closedWithin<T>(closing: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    closing,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the socket was not closed within ${ms} ms`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}
