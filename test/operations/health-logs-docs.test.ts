import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { createTestContext, postContact, waitPlaced, type TestContext } from '../helpers/context.js'
import { waitDelivery } from '../helpers/delivery.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

describe('health and readiness', () => {
  it('GET /health answers 200 ok', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/health' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok' })
  })

  it('GET /ready answers 200 when Postgres and Redis answer', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/ready' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ready', postgres: 'ok', redis: 'ok' })
  })

  it('GET /ready answers 503 with Retry-After, naming Redis, when Redis is unreachable', async () => {
    const deadRedis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
    deadRedis.on('error', () => {})
    const app = await buildApp({ ...ctx.infra, redis: deadRedis })
    try {
      const res = await app.inject({ method: 'GET', url: '/ready' })
      expect(res.statusCode).toBe(503)
      expect(res.headers['retry-after']).toBe('5')
      expect(res.json()).toEqual({ status: 'unavailable', postgres: 'ok', redis: 'unreachable' })
      // liveness does not depend on Redis
      expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
    } finally {
      await app.close()
      deadRedis.disconnect()
    }
  })
})

describe('what routes are given', () => {
  // routes read these (src/plugins/infra.ts) rather than an Infra passed down to them
  it("the process's Postgres pool, Redis, queues, catalogue, config and intake pressure, as decorators of the app", () => {
    expect(ctx.app.db).toBe(ctx.infra.db)
    expect(ctx.app.redis).toBe(ctx.infra.redis)
    expect(ctx.app.queues).toBe(ctx.infra.queues)
    expect(ctx.app.catalogue).toBe(ctx.infra.catalogue)
    expect(ctx.app.config).toBe(ctx.infra.config)
    expect(ctx.app.intakePressure).toBe(ctx.infra.intakePressure)
  })
})

describe('API documentation', () => {
  it('serves an OpenAPI 3 document describing the contact routes', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/docs/json' })
    expect(res.statusCode).toBe(200)
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> }
    expect(doc.openapi).toMatch(/^3\./)
    expect(doc.paths['/v1/contacts']?.post).toBeDefined()
    expect(doc.paths['/v1/contacts/{reference}']?.get).toBeDefined()
    expect(doc.paths['/health']?.get).toBeDefined()
    expect(doc.paths['/v1/admin/deliveries']?.get).toBeDefined()
  })
})

describe('request ids', () => {
  it('gives every response an x-request-id', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/health' })
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    const other = await ctx.app.inject({ method: 'GET', url: '/health' })
    expect(other.headers['x-request-id']).not.toBe(res.headers['x-request-id'])
  })

  it("echoes a caller's plain X-Request-Id, and in error bodies too", async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'gateway-trace.42_a' } })
    expect(res.headers['x-request-id']).toBe('gateway-trace.42_a')
    const missing = await ctx.app.inject({ method: 'GET', url: '/no/such/route', headers: { 'x-request-id': 'gateway-trace-43' } })
    expect(missing.statusCode).toBe(404)
    expect(missing.headers['x-request-id']).toBe('gateway-trace-43')
    expect(missing.json()).toMatchObject({ code: 'not_found', request_id: 'gateway-trace-43' })
  })

  it('replaces a request id that is not a plain token', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad id <script>' } })
    expect(res.headers['x-request-id']).not.toBe('bad id <script>')
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('logs', () => {
  it("carry no resident's personal data through intake, status checks, routing and delivery", async () => {
    const tag = randomUUID().slice(0, 8)
    const name = `Quillon Marchbanks-${tag}`
    const email = `quillon.${tag}@example.com`
    const phoneGiven = '07400 123456'
    const phoneE164 = '+447400123456'
    const description = `Overflowing communal bins behind Zephyrine Court ${tag}`
    const requestId = `pii-check-${tag}`

    const res = await postContact(
      ctx,
      { name, email, phone: phoneGiven, postcode: 'SW1A 1AA', service_code: 'missed_bin', description },
      { 'x-request-id': requestId }
    )
    expect(res.statusCode, res.body).toBe(202)
    const { reference } = res.json() as { reference: string }

    // the resident follows their case, by email and by phone, with the contact in the query string
    for (const contact of [email, phoneGiven]) {
      const status = await ctx.app.inject({ method: 'GET', url: `/v1/contacts/${reference}?contact=${encodeURIComponent(contact)}` })
      expect(status.statusCode).toBe(200)
    }
    // someone with the wrong contact gets 404, which is logged too
    const wrong = await ctx.app.inject({ method: 'GET', url: `/v1/contacts/${reference}?contact=${encodeURIComponent(`not.${email}`)}` })
    expect(wrong.statusCode).toBe(404)
    // and a resident whose form submission is refused
    const refused = await postContact(ctx, { name, email: `${tag}-not-an-email`, description })
    expect(refused.statusCode).toBe(422)
    // or whose body is broken JSON (parsers like to quote the text they choke on)
    const broken = await ctx.app.inject({ method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload: `{"name": "${name}", "email": "${email}" oops` })
    expect(broken.statusCode).toBe(400)

    await waitPlaced(ctx, reference)
    const delivery = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(delivery.state).toBe('delivered') // the demo mailbox, through the JSON mail transport

    const all = ctx.logs.join('\n')
    expect(all).toContain(requestId) // the logs were captured, including the POST
    expect(all).toContain(reference)
    expect(all).toContain(`"path":"/v1/contacts/${reference}"`) // the status checks were logged (by path)
    expect(all).toContain('case delivered') // and so was the delivery worker
    for (const secret of [name, email, encodeURIComponent(email), phoneGiven, encodeURIComponent(phoneGiven), phoneE164, '7400123456', description, `${tag}-not-an-email`, 'Zephyrine']) {
      expect(all, `logs contain ${secret}`).not.toContain(secret)
    }
  })
})
