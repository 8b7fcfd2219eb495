import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgent } from '../../src/agents/accounts.js'
import { createTestContext, type TestContext } from '../helpers/context.js'

// Logins are counted per account as well as per address, in Redis: guesses at one account
// from many addresses are stopped, and the answer says nothing about whether it exists.
const PER_ACCOUNT = 4
const PER_ADDRESS = 50

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MIN: PER_ACCOUNT, RATE_LIMIT_INTAKE_PER_MIN: PER_ADDRESS }, { mail: 'demo' })
})
afterAll(async () => {
  await ctx?.close()
})

const tag = randomBytes(4).toString('hex')
let lastAgent = 0
const newEmail = () => `login.${tag}.${++lastAgent}@council.example`
// a new address for every attempt: no address ever reaches its own limit
let lastHost = 0
const newAddress = () => `203.0.113.${++lastHost % 250}`

function login(body: { email: string; password: string }, from = newAddress()) {
  return ctx.app.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: from, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
}

/** What a client can tell apart: status, body without its request id, and the headers that matter. */
function shape(res: Awaited<ReturnType<typeof login>>) {
  const { request_id: _id, ...body } = res.json() as Record<string, unknown>
  return { status: res.statusCode, body, retryAfter: res.headers['retry-after'] !== undefined }
}

describe('logins per account', () => {
  it(`stop guesses at one account from many addresses after ${PER_ACCOUNT} a minute, the right password included`, async () => {
    const email = newEmail()
    const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'admin' })
    for (let i = 0; i < PER_ACCOUNT; i++) expect((await login({ email, password: `guess-${i}` })).statusCode).toBe(401)
    const guess = await login({ email, password: 'one-more-guess' })
    expect(guess.statusCode).toBe(429)
    expect(guess.json()).toMatchObject({ code: 'rate_limited' })
    const retryAfter = Number(guess.headers['retry-after'])
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    // the right password, from yet another address, waits for the minute too (README: RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MIN)
    const owner = await login({ email: email.toUpperCase(), password: made.password })
    expect(owner.statusCode).toBe(429)
    expect(owner.body).not.toContain('token')
    // another account is not held up
    const other = newEmail()
    const theirs = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email: other, role: 'agent' })
    expect((await login({ email: other, password: theirs.password })).statusCode).toBe(200)
  })

  it('answer an account that does not exist exactly as one that does: wrong, then limited', async () => {
    const real = newEmail()
    await createAgent(ctx.infra.db, { partnership: 'tri-borough', email: real, role: 'agent' })
    const nobody = newEmail()
    for (let i = 0; i < PER_ACCOUNT; i++) {
      const [a, b] = [await login({ email: real, password: `guess-${i}` }), await login({ email: nobody, password: `guess-${i}` })]
      expect(shape(a)).toEqual(shape(b))
      expect(a.statusCode).toBe(401)
    }
    const [a, b] = [await login({ email: real, password: 'again' }), await login({ email: nobody, password: 'again' })]
    expect(shape(a)).toEqual(shape(b))
    expect(a.statusCode).toBe(429)
    expect(a.headers['retry-after']).toBeDefined()
  })

  it('are counted in Redis, so a second API process shares the count', async () => {
    const email = newEmail()
    const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'agent' })
    for (let i = 0; i < PER_ACCOUNT; i++) expect((await login({ email, password: `guess-${i}` })).statusCode).toBe(401)
    const { buildApp } = await import('../../src/app.js')
    const second = await buildApp(ctx.infra)
    try {
      const res = await second.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: newAddress(), headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email, password: made.password }) })
      expect(res.statusCode).toBe(429)
    } finally {
      await second.close()
    }
  })

  it('keep no agent email in Redis', async () => {
    const email = newEmail()
    await login({ email, password: 'whatever' })
    const keys = await ctx.infra.redis.keys(`${ctx.config.QUEUE_PREFIX}:rate-limit:login-account:*`)
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys) expect(key.toLowerCase()).not.toContain('@')
  })
})
