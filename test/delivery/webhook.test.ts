import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { verifyWebhook } from '../../src/delivery/signature.js'
import { caseRow, createTestContext, eventsOf, postContact, waitFor, type TestContext } from '../helpers/context.js'
import {
  adminRequest,
  deliveryOf,
  repointWebhook,
  reservePort,
  deliveriesSettled,
  startReceiver,
  useWebhookDestination,
  waitDelivery,
  type ReceivedRequest,
  type Receiver
} from '../helpers/delivery.js'
import { LEICESTERSHIRE, WESTMINSTER } from '../helpers/councils.js'

const SECRET = 'whsec_test_6f1d2c3b4a5e6f708192a3b4'

/** Reports a missed bin in Westminster, which this file's configuration sends to the webhook. */
async function reportMissedBin(ctx: TestContext, extra: Record<string, unknown> = {}) {
  const email = `resident.${randomUUID().slice(0, 8)}@example.com`
  const res = await postContact(ctx, {
    name: 'Hook Resident',
    email,
    postcode: 'SW1A 1AA',
    service_code: 'missed_bin',
    description: 'The blue recycling bin was not collected on Tuesday',
    ...extra
  })
  expect(res.statusCode, res.body).toBe(202)
  return { reference: (res.json() as { reference: string }).reference, email }
}

/** The receiver's view: the signature over `timestamp.body` checks out with the destination's secret. */
function expectSigned(req: Pick<ReceivedRequest, 'headers' | 'body'>) {
  const timestamp = String(req.headers['x-switchboard-timestamp'])
  const signature = String(req.headers['x-switchboard-signature'])
  expect(timestamp).toMatch(/^\d{10}$/)
  expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(120)
  expect(verifyWebhook(SECRET, timestamp, req.body, signature)).toBe(true)
}

const receivers: Receiver[] = []
async function receiver(respond: Parameters<typeof startReceiver>[0], port?: number) {
  const r = await startReceiver(respond, port)
  receivers.push(r)
  return r
}
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close()
})

describe('webhook delivery (up to 10 attempts, 100 ms exponential backoff)', () => {
  let ctx: TestContext
  let destinationId: number

  beforeAll(async () => {
    ctx = await createTestContext({ DELIVERY_ATTEMPTS: 10, DELIVERY_BACKOFF_MS: 100 }, { workers: true })
    destinationId = await useWebhookDestination(ctx, {
      council: WESTMINSTER,
      service: 'missed_bin',
      url: 'http://127.0.0.1:9/not-configured-yet',
      secret: SECRET,
      team: 'Waste and street scene'
    })
  })
  afterAll(async () => {
    await ctx?.close()
  })

  it('keeps trying while the receiver is down and delivers exactly once, signed, when it comes back', async () => {
    const port = await reservePort()
    await repointWebhook(ctx, destinationId, `http://127.0.0.1:${port}/hooks/switchboard`)
    const { reference, email } = await reportMissedBin(ctx)

    // a few attempts fail with nobody listening
    const refused = await waitFor(async () => {
      const d = await deliveryOf(ctx, reference)
      return d && d.attempts >= 3 && d.state === 'retrying' && d.last_error === 'connection refused' ? d : null
    }, 10_000, 'three refused attempts')
    expect(refused.last_status).toBeNull()

    // the back office comes back: one more hiccup (503), then it accepts
    const up = await receiver((n) => (n === 0 ? 503 : 200), port)
    const delivered = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(delivered.state).toBe('delivered')
    expect(delivered.last_status).toBe(200)
    expect(delivered.last_error).toBeNull()
    expect(delivered.attempts).toBeGreaterThanOrEqual(4)

    await deliveriesSettled(ctx) // no attempt is left to come
    expect(up.requests.map((r) => r.answered)).toEqual([503, 200])
    for (const req of up.requests) {
      expect(req.method).toBe('POST')
      expect(req.path).toBe('/hooks/switchboard')
      expect(req.headers['x-switchboard-delivery']).toBe(delivered.public_id)
      expectSigned(req)
    }
    expect((JSON.parse(up.requests[1]!.body) as { delivery_id: string }).delivery_id).toBe(delivered.public_id)

    const row = await caseRow(ctx, reference)
    expect(row?.status).toBe('with_back_office')
    const succeeded = (await eventsOf(ctx, reference)).filter((e) => e.type === 'delivery.succeeded')
    expect(succeeded).toHaveLength(1)
    expect(succeeded[0]!.data).toMatchObject({ delivery_id: delivered.public_id, attempt: delivered.attempts })
    expect(succeeded[0]!.reason).toContain(`on attempt ${delivered.attempts}`)

    // and the resident sees it has reached the council
    const status = await ctx.app.inject({ method: 'GET', url: `/v1/contacts/${reference}?contact=${encodeURIComponent(email)}` })
    expect(status.statusCode).toBe(200)
    expect(status.json()).toMatchObject({ reference, stage: 'with_back_office', council: { gss: WESTMINSTER } })
  })

  it('sends the case as versioned JSON with what the back office needs to act', async () => {
    const hook = await receiver(() => 200)
    await repointWebhook(ctx, destinationId, hook.url)
    const { reference } = await reportMissedBin(ctx, { name: 'Body Resident', email: 'Body.Resident@Example.com', phone: '020 7946 0018' })
    const delivered = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(delivered.state).toBe('delivered')
    expect(hook.requests).toHaveLength(1)
    const req = hook.requests[0]!
    expect(req.headers['content-type']).toMatch(/^application\/json/)
    expectSigned(req)
    // a receiver holding a different secret would refuse it
    expect(verifyWebhook('some-other-secret-entirely', String(req.headers['x-switchboard-timestamp']), req.body, String(req.headers['x-switchboard-signature']))).toBe(false)
    expect(verifyWebhook(SECRET, String(req.headers['x-switchboard-timestamp']), req.body.replace('Body Resident', 'Someone Else'), String(req.headers['x-switchboard-signature']))).toBe(false)

    const body = JSON.parse(req.body) as Record<string, any>
    expect(body).toMatchObject({
      schema: 'switchboard.case.v1',
      event: 'case.routed',
      delivery_id: delivered.public_id,
      case: {
        reference,
        service: { code: 'missed_bin', name: 'Missed bin collection' },
        council: { gss: WESTMINSTER, name: 'Westminster City Council' },
        team: 'Waste and street scene',
        description: 'The blue recycling bin was not collected on Tuesday',
        location: { postcode: 'SW1A 1AA' },
        resident: { name: 'Body Resident', email: 'body.resident@example.com', phone: '+442079460018' }
      }
    })
    expect(req.headers['x-switchboard-delivery']).toBe(body.delivery_id)
  })

  it.each([500, 429, 408])('retries after HTTP %i and delivers on attempt 2 under the same delivery id', async (status) => {
    const hook = await receiver((n) => (n === 0 ? status : 200))
    await repointWebhook(ctx, destinationId, hook.url)
    const { reference } = await reportMissedBin(ctx)
    const delivered = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(delivered).toMatchObject({ state: 'delivered', attempts: 2, last_status: 200 })
    expect(hook.requests.map((r) => r.answered)).toEqual([status, 200])
    expect(new Set(hook.requests.map((r) => r.headers['x-switchboard-delivery']))).toEqual(new Set([delivered.public_id]))
    const events = await eventsOf(ctx, reference)
    expect(events.filter((e) => e.type === 'delivery.dead_lettered')).toHaveLength(0)
    expect(events.find((e) => e.type === 'delivery.succeeded')?.reason).toContain('on attempt 2')
  })

  it.each([404, 410])('gives up at once on HTTP %i, which retrying will not fix', async (status) => {
    const hook = await receiver(() => status)
    await repointWebhook(ctx, destinationId, hook.url)
    const { reference } = await reportMissedBin(ctx)
    const dead = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(dead).toMatchObject({ state: 'dead', attempts: 1, last_status: status })
    await deliveriesSettled(ctx) // no attempt is left to come
    expect(hook.requests).toHaveLength(1)
    expect((await caseRow(ctx, reference))?.status).toBe('routed')
  })

  it('dead-letters an HTTP 400 after one attempt, shows it to operators, and an operator retry delivers it under the same id', async () => {
    let fixed = false
    const hook = await receiver(() => (fixed ? 200 : 400))
    await repointWebhook(ctx, destinationId, hook.url)
    const { reference } = await reportMissedBin(ctx)
    const dead = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(dead).toMatchObject({ state: 'dead', attempts: 1, last_status: 400 })
    await deliveriesSettled(ctx) // no attempt is left to come
    expect(hook.requests).toHaveLength(1)

    const listed = await adminRequest(ctx, 'GET', '/v1/admin/deliveries?state=dead')
    expect(listed.statusCode).toBe(200)
    const item = (listed.json() as Array<Record<string, unknown>>).find((d) => d.case_reference === reference)
    expect(item).toMatchObject({
      id: dead.public_id,
      case_reference: reference,
      state: 'dead',
      kind: 'webhook',
      attempts: 1,
      last_status: 400,
      council_gss: WESTMINSTER,
      team: 'Waste and street scene',
      target: hook.url
    })
    // dead is the default view
    const byDefault = await adminRequest(ctx, 'GET', '/v1/admin/deliveries')
    expect((byDefault.json() as Array<{ id: string }>).map((d) => d.id)).toContain(dead.public_id)

    const deadEvent = (await eventsOf(ctx, reference)).find((e) => e.type === 'delivery.dead_lettered')
    expect(deadEvent?.reason).toContain('permanent failure')
    expect(deadEvent?.reason).toContain('HTTP 400')
    expect(deadEvent?.data).toMatchObject({ delivery_id: dead.public_id, attempt: 1 })
    expect((await caseRow(ctx, reference))?.status).toBe('routed')

    // the council fixes its end; the operator sends it again
    fixed = true
    const retried = await adminRequest(ctx, 'POST', `/v1/admin/deliveries/${dead.public_id}/retry`)
    expect(retried.statusCode, retried.body).toBe(202)
    expect(retried.json()).toEqual({ id: dead.public_id, state: 'pending' })
    const delivered = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(delivered).toMatchObject({ state: 'delivered', attempts: 1, last_status: 200 })
    expect(hook.requests.map((r) => r.answered)).toEqual([400, 200])
    expect(hook.requests[1]!.headers['x-switchboard-delivery']).toBe(dead.public_id)
    expectSigned(hook.requests[1]!)
    expect((await caseRow(ctx, reference))?.status).toBe('with_back_office')
    const types = (await eventsOf(ctx, reference)).map((e) => e.type)
    expect(types.filter((t) => t.startsWith('delivery.'))).toEqual(['delivery.dead_lettered', 'delivery.retried', 'delivery.succeeded'])
    expect((await eventsOf(ctx, reference)).find((e) => e.type === 'delivery.retried')?.actor).toBe('operator')

    // no longer among the dead; listed as delivered
    const deadNow = await adminRequest(ctx, 'GET', '/v1/admin/deliveries?state=dead')
    expect((deadNow.json() as Array<{ id: string }>).map((d) => d.id)).not.toContain(dead.public_id)
    const deliveredList = await adminRequest(ctx, 'GET', '/v1/admin/deliveries?state=delivered')
    expect((deliveredList.json() as Array<{ id: string }>).map((d) => d.id)).toContain(dead.public_id)

    // a delivered delivery cannot be sent again
    const again = await adminRequest(ctx, 'POST', `/v1/admin/deliveries/${dead.public_id}/retry`)
    expect(again.statusCode).toBe(409)
    expect(again.json()).toMatchObject({ code: 'delivery_not_retryable' })
    await deliveriesSettled(ctx) // no attempt is left to come
    expect(hook.requests).toHaveLength(2)
  })

  it('answers 404 for a delivery id that does not exist and 400 for one that is not a uuid', async () => {
    const unknown = await adminRequest(ctx, 'POST', `/v1/admin/deliveries/${randomUUID()}/retry`)
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json()).toMatchObject({ code: 'not_found' })
    const malformed = await adminRequest(ctx, 'POST', '/v1/admin/deliveries/not-a-uuid/retry')
    expect(malformed.statusCode).toBe(400)
    expect(malformed.json()).toMatchObject({ code: 'validation_failed' })
  })

  it.each([
    ['no Authorization header', null],
    ['a wrong key', 'not-the-operator-key-at-all'],
    ['an empty bearer token', '']
  ])('refuses admin routes with %s (401 unauthorized)', async (_what, key) => {
    for (const [method, url] of [
      ['GET', '/v1/admin/deliveries?state=dead'],
      ['POST', `/v1/admin/deliveries/${randomUUID()}/retry`]
    ] as const) {
      const res = await adminRequest(ctx, method, url, key)
      expect(res.statusCode, `${method} ${url}`).toBe(401)
      expect(res.json()).toMatchObject({ code: 'unauthorized' })
    }
  })
})

describe('webhook delivery that never succeeds (3 attempts)', () => {
  let ctx: TestContext

  beforeAll(async () => {
    ctx = await createTestContext({ DELIVERY_ATTEMPTS: 3, DELIVERY_BACKOFF_MS: 100 }, { workers: true })
  })
  afterAll(async () => {
    await ctx?.close()
  })

  it('dead-letters after exactly 3 attempts when the receiver keeps answering 503', async () => {
    const hook = await receiver(() => 503)
    await useWebhookDestination(ctx, { council: LEICESTERSHIRE, service: 'pothole', url: hook.url, secret: SECRET, team: 'Highways' })
    const res = await postContact(ctx, { email: `pothole.${randomUUID().slice(0, 8)}@example.com`, postcode: 'LE10 0FR', service_code: 'pothole', description: 'Deep pothole by the bus stop' })
    expect(res.statusCode, res.body).toBe(202)
    const { reference } = res.json() as { reference: string }

    const dead = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(dead).toMatchObject({ state: 'dead', attempts: 3, last_status: 503 })
    await deliveriesSettled(ctx) // no attempt is left to come
    expect(hook.requests).toHaveLength(3)
    expect(hook.requests.every((r) => r.headers['x-switchboard-delivery'] === dead.public_id)).toBe(true)
    expect((await caseRow(ctx, reference))?.council_gss).toBe(LEICESTERSHIRE)

    const event = (await eventsOf(ctx, reference)).find((e) => e.type === 'delivery.dead_lettered')
    expect(event?.reason).toContain('attempt 3 of 3')
    expect(event?.reason).toContain('HTTP 503')
    const listed = await adminRequest(ctx, 'GET', '/v1/admin/deliveries?state=dead')
    expect(listed.json()).toEqual(expect.arrayContaining([expect.objectContaining({ id: dead.public_id, case_reference: reference, last_status: 503, attempts: 3 })]))
  })
})
