import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, postContact, waitFor, type TestContext } from '../helpers/context.js'
import { deliveriesSettled, startReceiver, useWebhookDestination, type Receiver } from '../helpers/delivery.js'
import { BRENT, WESTMINSTER } from '../helpers/councils.js'

// Deliveries go out many at a time, at most DELIVERY_PER_DESTINATION at once to any one
// council system, so a slow council holds up nobody but itself; team mails share pooled
// SMTP connections.

const PER_DESTINATION = 3
const SLOW_MS = 1_200

let ctx: TestContext
let slow: Receiver
let fast: Receiver
let slowInFlight = 0
let slowMostAtOnce = 0

beforeAll(async () => {
  slow = await startReceiver(async () => {
    slowInFlight++
    slowMostAtOnce = Math.max(slowMostAtOnce, slowInFlight)
    await new Promise((r) => setTimeout(r, SLOW_MS))
    slowInFlight--
    return 200
  })
  fast = await startReceiver(() => 200)
  ctx = await createTestContext({ DELIVERY_PER_DESTINATION: PER_DESTINATION, DELIVERY_CONCURRENCY: 20, DELIVERY_TIMEOUT_MS: 5_000 }, { workers: true })
  await useWebhookDestination(ctx, { council: WESTMINSTER, service: 'missed_bin', url: slow.url, secret: 'whsec_slow_council_0123456789abcdef' })
  await useWebhookDestination(ctx, { council: BRENT, service: 'missed_bin', url: fast.url, secret: 'whsec_fast_council_0123456789abcdef' })
}, 60_000)
afterAll(async () => {
  await ctx?.close()
  await slow?.close()
  await fast?.close()
})

async function report(postcode: string, n: number): Promise<string> {
  const res = await postContact(ctx, { name: `Test Resident ${n}`, email: `batching.${n}.${postcode.replace(' ', '')}@example.com`, postcode, service_code: 'missed_bin' })
  expect(res.statusCode, res.body).toBe(202)
  return (res.json() as { reference: string }).reference
}

describe('delivering many cases at once', () => {
  it('sends a slow council at most its share at a time, and everyone else meanwhile', async () => {
    const slowRefs: string[] = []
    const fastRefs: string[] = []
    for (let i = 0; i < 12; i++) {
      slowRefs.push(await report('SW1A 1AA', i))
      fastRefs.push(await report('HA9 0FJ', i))
    }
    // every fast council case is delivered while the slow council is still working through
    // its twelve, three at a time (four rounds of 1.2 s)
    await waitFor(async () => fast.requests.filter((r) => r.answered).length === 12, 15_000, 'the fast council to have all its cases')
    const slowDoneWhenFastFinished = slow.requests.filter((r) => r.answered).length
    expect(slowDoneWhenFastFinished).toBeLessThan(12)

    await waitFor(async () => slow.requests.filter((r) => r.answered).length === 12, 30_000, 'the slow council to have all its cases')
    await deliveriesSettled(ctx)
    expect(slowMostAtOnce).toBeLessThanOrEqual(PER_DESTINATION)
    expect(slowMostAtOnce).toBeGreaterThan(1)
    // each case once, to the right council, recorded as delivered
    for (const [receiver, refs] of [
      [slow, slowRefs],
      [fast, fastRefs]
    ] as const) {
      const sent = receiver.requests.map((r) => (JSON.parse(r.body) as { case: { reference: string } }).case.reference)
      expect(sent.sort()).toEqual([...refs].sort())
      const states = await ctx.query<{ state: string; n: number }>(
        `select d.state, count(*)::int as n from deliveries d join cases c on c.id = d.case_id where c.reference = any($1) group by 1`,
        [refs]
      )
      expect(states).toEqual([{ state: 'delivered', n: 12 }])
    }
  }, 60_000)

  it('sends team mails over pooled SMTP connections, not one connection each', async () => {
    const before = ctx.mailSink!.connections()
    const sent = ctx.mailSink!.messages.length
    // Hinckley's missed bins go to its team mailbox
    for (let i = 0; i < 15; i++) await report('LE10 0FR', 100 + i)
    await waitFor(async () => ctx.mailSink!.messages.length - sent >= 15, 20_000, 'fifteen team mails')
    await deliveriesSettled(ctx)
    expect(ctx.mailSink!.messages.length - sent).toBe(15)
    expect(ctx.mailSink!.connections() - before).toBeLessThanOrEqual(5)
  }, 60_000)
})
