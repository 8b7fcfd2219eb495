import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config.js'
import { assertDestinationsUsable } from '../../src/delivery/destination-policy.js'
import { caseRow, createTestContext, eventsOf, postContact, waitFor, type TestContext } from '../helpers/context.js'
import { adminRequest, startReceiver, useWebhookDestination, type Receiver } from '../helpers/delivery.js'
import { WESTMINSTER } from '../helpers/councils.js'

// No SMTP_URL and not production: the demo's no-server mail transport, as `npm start` runs it.
let ctx: TestContext
let local: Receiver
beforeAll(async () => {
  ctx = await createTestContext({ DELIVERY_ATTEMPTS: 4, DELIVERY_BACKOFF_MS: 100 }, { workers: true, mail: 'demo' })
  local = await startReceiver(() => 200)
})
afterAll(async () => {
  await ctx?.close()
  await local?.close()
})

async function report(serviceCode: string, description: string) {
  const email = `demo.${randomUUID().slice(0, 8)}@example.com`
  const res = await postContact(ctx, { name: 'Demo Resident', email, postcode: 'SW1A 1AA', service_code: serviceCode, description })
  expect(res.statusCode, res.body).toBe(202)
  return { reference: (res.json() as { reference: string }).reference, email }
}

/** The case's delivery once it has left pending/retrying. */
function settledDelivery(reference: string) {
  return waitFor(
    async () => {
      const rows = await ctx.query<{ id: number; public_id: string; state: string; attempts: number; last_error: string | null; delivered_at: Date | null }>(
        `select d.id, d.public_id, d.state, d.attempts, d.last_error, d.delivered_at from deliveries d join cases c on c.id = d.case_id where c.reference = $1`,
        [reference]
      )
      const d = rows[0]
      return d && !['pending', 'retrying'].includes(d.state) ? d : null
    },
    15_000,
    `the delivery of ${reference} to settle`
  )
}

describe('the demo mail transport (no SMTP_URL, outside production)', () => {
  it('records a team mail as kept, not sent: the case stays routed and the resident is not told the council has it', async () => {
    const { reference, email } = await report('missed_bin', 'Black bin not emptied this week')
    const delivery = await settledDelivery(reference)
    expect(delivery).toMatchObject({ state: 'kept', attempts: 1, last_error: null, delivered_at: null })

    expect((await caseRow(ctx, reference))?.status).toBe('routed')
    const events = await eventsOf(ctx, reference)
    const types = events.map((e) => e.type)
    expect(types).not.toContain('delivery.succeeded')
    const kept = events.find((e) => e.type === 'delivery.kept')
    expect(kept?.reason).toContain('kept by the demo mail transport, not sent')
    expect(kept?.reason).toContain('SMTP_URL')
    expect(kept?.reason).not.toContain('accepted')
    expect(kept?.data).toMatchObject({ delivery_id: delivery.public_id, attempt: 1 })

    // settled in the same statement: no work left for the sweeper to send again
    const open = await ctx.query(`select id from outbox where topic = 'case:deliver' and (payload->>'delivery_id')::bigint = $1 and done_at is null`, [delivery.id])
    expect(open).toHaveLength(0)

    const status = await ctx.app.inject({ method: 'GET', url: `/v1/contacts/${reference}?contact=${encodeURIComponent(email)}` })
    expect(status.statusCode, status.body).toBe(200)
    const body = status.json() as { stage: string; stage_description: string }
    expect(body.stage).toBe('routed')
    expect(body.stage_description).not.toContain('has your report')

    // operators can list what the demo kept, and it is not among the delivered
    const keptList = await adminRequest(ctx, 'GET', '/v1/admin/deliveries?state=kept')
    expect(keptList.statusCode, keptList.body).toBe(200)
    expect(keptList.json()).toContainEqual(expect.objectContaining({ id: delivery.public_id, case_reference: reference, state: 'kept', kind: 'email' }))
    const deliveredList = await adminRequest(ctx, 'GET', '/v1/admin/deliveries?state=delivered')
    expect((deliveredList.json() as Array<{ id: string }>).map((d) => d.id)).not.toContain(delivery.public_id)
  })
})

describe('a webhook destination the policy refuses', () => {
  it('is refused at start and dead-lettered by the worker on its first attempt, without a request', async () => {
    // plain http to a host that is not this machine; .invalid never resolves, so a request
    // would fail as a network error and be retried, not dead-lettered at once
    const destinationId = await useWebhookDestination(ctx, { council: WESTMINSTER, service: 'noise', url: 'http://example.invalid/hooks/switchboard', secret: 'whsec_demo_0123456789abcdef', team: 'Environmental health' })

    const refused = await assertDestinationsUsable(ctx.infra.db, ctx.config).then(
      () => null,
      (err: unknown) => err
    )
    expect(refused).toBeInstanceOf(ConfigError)
    expect((refused as ConfigError).message).toContain(`destination ${destinationId}`)
    expect((refused as ConfigError).message).toContain('webhook_url must be https')

    const { reference } = await report('noise', 'Loud music from the flat above every night')
    const dead = await settledDelivery(reference)
    expect(dead).toMatchObject({ state: 'dead', attempts: 1 })
    expect(dead.last_error).toContain('not sent')
    expect(dead.last_error).toContain('webhook_url must be https')
    const event = (await eventsOf(ctx, reference)).find((e) => e.type === 'delivery.dead_lettered')
    expect(event?.reason).toContain('permanent failure')
    expect(event?.reason).toContain('webhook_url must be https')
    expect((await caseRow(ctx, reference))?.status).toBe('routed')

    // the same destination pointed at a local receiver over http is fine outside production,
    // and an operator's retry then reaches it: the refusal was the URL, nothing else
    await ctx.query('update destinations set webhook_url = $2 where id = $1', [destinationId, local.url])
    expect(local.requests).toHaveLength(0)
    await expect(assertDestinationsUsable(ctx.infra.db, ctx.config)).resolves.toBeUndefined()
    const retried = await adminRequest(ctx, 'POST', `/v1/admin/deliveries/${dead.public_id}/retry`)
    expect(retried.statusCode, retried.body).toBe(202)
    const delivered = await settledDelivery(reference)
    expect(delivered.state).toBe('delivered')
    expect(local.requests).toHaveLength(1)
    expect(local.requests[0]!.headers['x-switchboard-delivery']).toBe(dead.public_id)
  })
})
