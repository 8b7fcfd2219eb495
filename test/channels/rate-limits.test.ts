import { randomBytes } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { ConfigError, loadConfig, parseTrustProxy } from '../../src/config.js'
import { createInfra, createRedis, type Infra } from '../../src/infra.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { createLogger } from '../../src/logger.js'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { tableCounts } from '../helpers/pipeline.js'

type App = TestContext['app']

/** What a deployment gets without setting anything. */
const DEFAULTS = loadConfig({}, {})

let ctx: TestContext
const cleanups: Array<() => Promise<unknown>> = []
beforeAll(async () => {
  // the test context turns both limits off for other files; this one runs with the defaults
  ctx = await createTestContext({ RATE_LIMIT_INTAKE_PER_MIN: DEFAULTS.RATE_LIMIT_INTAKE_PER_MIN, RATE_LIMIT_LOOKUP_PER_MIN: DEFAULTS.RATE_LIMIT_LOOKUP_PER_MIN })
})
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  await ctx?.close()
})

// every test uses client addresses and references of its own, so the counts (shared in
// Redis by every app built here) never mix between tests
let lastHost = 0
const newAddress = () => `198.51.100.${++lastHost}`
const tag = randomBytes(4).toString('hex')
let lastContact = 0
const newEmail = () => `rl.${tag}.${++lastContact}@example.com`

function post(app: App, from: string, email = newEmail(), headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: '/v1/contacts',
    remoteAddress: from,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify({ email, postcode: 'SW1A 1AA', service_code: 'missed_bin' })
  })
}

function lookup(app: App, from: string, reference: string, contact: string, headers: Record<string, string> = {}) {
  return app.inject({ method: 'GET', url: `/v1/contacts/${reference}?contact=${encodeURIComponent(contact)}`, remoteAddress: from, headers })
}

async function newCase(from = newAddress()) {
  const email = newEmail()
  const res = await post(ctx.app, from, email)
  expect(res.statusCode, res.body).toBe(202)
  return { reference: res.json().reference as string, email }
}

/** 429 in our error shape, with Retry-After in whole seconds within the minute. */
function expectLimited(res: Awaited<ReturnType<App['inject']>>) {
  expect(res.statusCode, res.body).toBe(429)
  expect(res.json()).toEqual({ code: 'rate_limited', message: expect.any(String), request_id: res.headers['x-request-id'] })
  const retryAfter = Number(res.headers['retry-after'])
  expect(Number.isInteger(retryAfter), String(res.headers['retry-after'])).toBe(true)
  expect(retryAfter).toBeGreaterThanOrEqual(1)
  expect(retryAfter).toBeLessThanOrEqual(60)
}

/** Another app on this file's Infra (same Postgres, Redis and prefix) with other settings. */
async function appWith(overrides: Record<string, unknown>, infra: Infra = ctx.infra) {
  const app = await buildApp({ ...infra, config: loadConfig({ ...infra.config, ...overrides }, {}) })
  await app.ready()
  cleanups.push(() => app.close())
  return app
}

/** A second Infra on the same configuration, as a second API process has; its log lines go to `lines`. */
async function secondInfra(lines: string[] = []) {
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    }
  })
  const infra = await createInfra(ctx.config, createLogger(ctx.config, sink))
  await infra.catalogue.load()
  cleanups.push(() => infra.close())
  return infra
}

describe('status lookups', () => {
  it("stops 45 guesses at one case's contact within a minute before the 45th, for that case only", async () => {
    expect(DEFAULTS.RATE_LIMIT_LOOKUP_PER_MIN).toBe(30)
    const owner = newAddress()
    const victim = await newCase(owner)
    const attacker = newAddress()
    const answers = []
    for (let i = 0; i < 45; i++) answers.push(await lookup(ctx.app, attacker, victim.reference, `guess${i}.${victim.email}`))
    const statuses = answers.map((r) => r.statusCode)
    expect(statuses.slice(0, 30)).toEqual(Array(30).fill(404))
    expect(statuses.slice(30)).toEqual(Array(15).fill(429))
    for (const res of answers.slice(30)) expectLimited(res)

    // the limit is on the case: its owner, from their own address and with the right contact, waits too
    expectLimited(await lookup(ctx.app, owner, victim.reference, victim.email))
    // another case, from another address, is untouched
    const other = await newCase()
    const res = await lookup(ctx.app, newAddress(), other.reference, other.email)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json().reference).toBe(other.reference)
  })

  it('counts guesses at one reference across client addresses, however the reference is capitalised', async () => {
    const target = await newCase()
    // thirty addresses, one guess each: no address is near its own limit
    for (let i = 0; i < 30; i++) {
      const reference = i % 2 ? target.reference.toLowerCase() : target.reference
      expect((await lookup(ctx.app, newAddress(), reference, `guess${i}.${target.email}`)).statusCode).toBe(404)
    }
    expectLimited(await lookup(ctx.app, newAddress(), target.reference, target.email))
    expectLimited(await lookup(ctx.app, newAddress(), target.reference.toLowerCase(), target.email))
    // and it is this reference's count, not a total: another reference still answers
    const other = await newCase()
    expect((await lookup(ctx.app, newAddress(), other.reference, other.email)).statusCode).toBe(200)
  })

  it("counts one address's lookups across references", async () => {
    const from = newAddress()
    for (let i = 0; i < 30; i++) expect((await lookup(ctx.app, from, newCaseReference(), newEmail())).statusCode).toBe(404)
    expectLimited(await lookup(ctx.app, from, newCaseReference(), newEmail()))
    expect((await lookup(ctx.app, newAddress(), newCaseReference(), newEmail())).statusCode).toBe(404)
  })
})

describe('contact intake', () => {
  it('accepts 60 contacts a minute from one address, refuses the 61st without storing it, and still serves other addresses', async () => {
    expect(DEFAULTS.RATE_LIMIT_INTAKE_PER_MIN).toBe(60)
    const from = newAddress()
    for (let i = 0; i < 60; i++) {
      const res = await post(ctx.app, from)
      expect(res.statusCode, `contact ${i + 1}: ${res.body}`).toBe(202)
    }
    const tables = ['raw_inbound', 'cases', 'residents', 'contact_points', 'messages', 'outbox']
    const before = await tableCounts(ctx, tables)
    const email = newEmail()
    expectLimited(await post(ctx.app, from, email))
    expect(await tableCounts(ctx, tables)).toEqual(before)
    expect(await ctx.query('select 1 from contact_points where value = $1', [email])).toEqual([])
    expect((await post(ctx.app, newAddress())).statusCode).toBe(202)
  })

  it('documents 429 for both routes', async () => {
    const doc = (await ctx.app.inject({ method: 'GET', url: '/docs/json' })).json()
    expect(doc.paths['/v1/contacts'].post.responses['429']).toBeDefined()
    expect(doc.paths['/v1/contacts/{reference}'].get.responses['429']).toBeDefined()
  })
})

describe('settings', () => {
  it('0 turns each limit off', async () => {
    const app = await appWith({ RATE_LIMIT_INTAKE_PER_MIN: 0, RATE_LIMIT_LOOKUP_PER_MIN: 0 })
    const from = newAddress()
    for (let i = 0; i < 61; i++) expect((await post(app, from)).statusCode).toBe(202)
    const reference = newCaseReference()
    for (let i = 0; i < 45; i++) expect((await lookup(app, from, reference, newEmail())).statusCode).toBe(404)
  })

  it('turns one limit off without the other', async () => {
    const app = await appWith({ RATE_LIMIT_INTAKE_PER_MIN: 0, RATE_LIMIT_LOOKUP_PER_MIN: 2 })
    const from = newAddress()
    for (let i = 0; i < 3; i++) expect((await post(app, from)).statusCode).toBe(202)
    const reference = newCaseReference()
    for (let i = 0; i < 2; i++) expect((await lookup(app, from, reference, newEmail())).statusCode).toBe(404)
    expectLimited(await lookup(app, from, reference, newEmail()))
  })

  it('reads TRUST_PROXY as false, a hop count or proxy addresses, and refuses what is not an address', () => {
    expect(DEFAULTS.TRUST_PROXY).toBe('false')
    expect(parseTrustProxy('false')).toBe(false)
    expect(parseTrustProxy('true')).toBe(true)
    expect(parseTrustProxy('0')).toBe(false)
    const twoHops = parseTrustProxy('2') as (address: string, hop: number) => boolean
    expect([0, 1, 2].map((hop) => twoHops('192.0.2.1', hop))).toEqual([true, true, false])
    expect(parseTrustProxy('10.0.0.0/8, 192.0.2.7,2001:db8::/32')).toEqual(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32'])
    for (const bad of ['10.0.0.0/33', '10.0.0', '1.2.3.4/8/8', ',']) {
      expect(() => loadConfig({}, { TRUST_PROXY: bad }), bad).toThrow(ConfigError)
      expect(() => loadConfig({}, { TRUST_PROXY: bad }), bad).toThrow(/^TRUST_PROXY is invalid/)
    }
  })
})

describe('behind a proxy', () => {
  it('with TRUST_PROXY off, X-Forwarded-For does not give a client a fresh count', async () => {
    expect(ctx.config.TRUST_PROXY).toBe('false')
    const from = newAddress()
    for (let i = 0; i < 30; i++) {
      const res = await lookup(ctx.app, from, newCaseReference(), newEmail(), { 'x-forwarded-for': `203.0.113.${i + 1}` })
      expect(res.statusCode).toBe(404)
    }
    expectLimited(await lookup(ctx.app, from, newCaseReference(), newEmail(), { 'x-forwarded-for': '203.0.113.99' }))
  })

  it('with TRUST_PROXY naming the proxy, each forwarded client has its own count, and others cannot forge one', async () => {
    const proxy = newAddress()
    const app = await appWith({ TRUST_PROXY: proxy })
    const client = '203.0.113.200'
    for (let i = 0; i < 30; i++) expect((await lookup(app, proxy, newCaseReference(), newEmail(), { 'x-forwarded-for': client })).statusCode).toBe(404)
    expectLimited(await lookup(app, proxy, newCaseReference(), newEmail(), { 'x-forwarded-for': client }))
    // another resident behind the same proxy is not held up
    expect((await lookup(app, proxy, newCaseReference(), newEmail(), { 'x-forwarded-for': '203.0.113.201' })).statusCode).toBe(404)
    // and the exhausted client is limited even when its request carries another hop in front
    expectLimited(await lookup(app, proxy, newCaseReference(), newEmail(), { 'x-forwarded-for': `192.0.2.50, ${client}` }))
    // a host that is not the proxy is counted by its own address, whatever it forwards
    expect((await lookup(app, newAddress(), newCaseReference(), newEmail(), { 'x-forwarded-for': '203.0.113.201' })).statusCode).toBe(404)
  })
})

describe('shared counts', () => {
  it('two API processes on one Redis count against one limit', async () => {
    const second = await appWith({}, await secondInfra())
    const from = newAddress()
    const reference = newCaseReference()
    for (let i = 0; i < 30; i++) {
      const app = i % 2 ? second : ctx.app
      expect((await lookup(app, from, reference, newEmail())).statusCode).toBe(404)
    }
    expectLimited(await lookup(second, from, reference, newEmail()))
    expectLimited(await lookup(ctx.app, from, reference, newEmail()))
  })

  it('with Redis unreachable, intake and lookups still answer, uncounted, with a warning that names no one', async () => {
    const lines: string[] = []
    const infra = await secondInfra(lines)
    const app = await appWith({ RATE_LIMIT_INTAKE_PER_MIN: 1, RATE_LIMIT_LOOKUP_PER_MIN: 1 }, infra)
    infra.redis.disconnect() // the counter store is gone; Postgres is not
    const from = newAddress()
    const emails = [newEmail(), newEmail(), newEmail()]
    const references: string[] = []
    for (const email of emails) {
      const res = await post(app, from, email)
      expect(res.statusCode, res.body).toBe(202)
      references.push(res.json().reference)
    }
    for (const [i, reference] of references.entries()) {
      const res = await lookup(app, from, reference!, emails[i]!)
      expect(res.statusCode, res.body).toBe(200)
    }
    const rows = await ctx.query<{ reference: string }>('select reference from cases where reference = any($1)', [references])
    expect(rows).toHaveLength(3)

    const warnings = lines.filter((l) => l.includes('rate limit not applied'))
    expect(warnings).toHaveLength(1) // once per interval, not once per request
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, limit: 'intake-address' })
    // (references are logged on purpose: they are not personal data)
    for (const secret of [from, ...emails]) expect(lines.join('\n')).not.toContain(secret)
  })

  it("with Redis connected but no longer answering, intake answers within the limiter's deadline", async () => {
    // a relay to the real Redis that stops passing bytes once the client is connected: a
    // hung Redis or a network partition, where commands neither fail nor return
    const sockets = new Set<Socket>()
    let frozen = false
    const relay: Server = createServer((client) => {
      const upstream = connect(6379, '127.0.0.1')
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        sockets.add(from)
        from.on('data', (chunk) => frozen || to.write(chunk))
        from.on('error', () => {})
        from.on('close', () => {
          sockets.delete(from)
          to.destroy()
        })
      }
    })
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
    const redis = createRedis(`redis://127.0.0.1:${(relay.address() as { port: number }).port}`, false)
    redis.on('error', () => {})
    cleanups.push(async () => {
      redis.disconnect()
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => relay.close(resolve))
    })
    await redis.connect()
    expect(await redis.ping()).toBe('PONG')
    frozen = true

    const app = await appWith({ RATE_LIMIT_INTAKE_PER_MIN: 1 }, { ...ctx.infra, redis })
    const from = newAddress()
    for (let i = 0; i < 2; i++) {
      const started = Date.now()
      const res = await post(app, from)
      expect(res.statusCode, res.body).toBe(202)
      expect(Date.now() - started).toBeLessThan(5_000)
    }
    // the counter store really is unanswering, not merely slow
    await expect(Promise.race([redis.ping(), new Promise((resolve) => setTimeout(resolve, 1_000, 'no answer'))])).resolves.toBe('no answer')
  })
})
