import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { claimDeliveries } from '../../src/delivery/deliver-case.js'
import { verifyWebhook } from '../../src/delivery/signature.js'
import { createTestContext, eventsOf, postContact, waitFor, type TestContext } from '../helpers/context.js'
import { deliveriesSettled, deliveryOf, startReceiver, useWebhookDestination, waitDelivery, type Receiver } from '../helpers/delivery.js'
import { BRENT, HAMMERSMITH, WESTMINSTER } from '../helpers/councils.js'

// Routing hands the deliveries it commits straight to delivery in the same process: a case
// reaches its council with no case:deliver job in between. The outbox row stays the
// guarantee, and the claim's lease keeps an attempt in flight from being made a second time
// by anyone else (the sweeper's copy of the job, another process).

const SECRET = 'whsec_hand_off_0123456789abcdef'

let ctx: TestContext
let answers: Array<number | (() => Promise<number>)> = []
let hook: Receiver

beforeAll(async () => {
  // answers in turn from `answers`; 200 once they run out
  hook = await startReceiver(async (n) => {
    const next = answers[n]
    return typeof next === 'function' ? next() : (next ?? 200)
  })
  // a long delivery timeout: the council of the third test holds its answer for as long as the test needs
  ctx = await createTestContext({ DELIVERY_BACKOFF_MS: 300, DELIVERY_TIMEOUT_MS: 10_000 }, { workers: true })
}, 60_000)
afterAll(async () => {
  await ctx?.close()
  await hook?.close()
})

async function report(n: number, postcode: string): Promise<string> {
  const res = await postContact(ctx, { name: `Test Resident ${n}`, email: `hand.off.${n}@example.com`, postcode, service_code: 'missed_bin' })
  expect(res.statusCode, res.body).toBe(202)
  return (res.json() as { reference: string }).reference
}

async function deliverJobs() {
  return ctx.infra.queues['case:deliver'].getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'completed', 'failed')
}

function requestsFor(reference: string) {
  return hook.requests.filter((r) => (JSON.parse(r.body) as { case: { reference: string } }).case.reference === reference)
}

describe('routing hands a case straight to delivery', () => {
  it('delivers a routed case with no case:deliver job, signed, and records it', async () => {
    await useWebhookDestination(ctx, { council: WESTMINSTER, service: 'missed_bin', url: hook.url, secret: SECRET })
    answers = hook.requests.map(() => 200)
    const reference = await report(1, 'SW1A 1AA')
    const delivered = await waitDelivery(ctx, reference, ['delivered'])
    expect(delivered).toMatchObject({ attempts: 1, last_status: 200 })
    const [req] = requestsFor(reference)
    expect(req).toBeDefined()
    expect(verifyWebhook(SECRET, String(req!.headers['x-switchboard-timestamp']), req!.body, String(req!.headers['x-switchboard-signature']))).toBe(true)
    await deliveriesSettled(ctx)
    // the route job ran; no delivery job was ever added
    expect(Object.values(await deliverJobs()).every((n) => n === 0), JSON.stringify(await deliverJobs())).toBe(true)
    expect((await ctx.infra.queues['case:route'].getJobCounts('completed')).completed).toBeGreaterThanOrEqual(1)
    const events = await eventsOf(ctx, reference)
    expect(events.map((e) => e.type)).toEqual(['case.opened', 'case.service_chosen', 'case.routed', 'delivery.succeeded'])
    expect(await ctx.query(`select 1 from outbox where done_at is null`)).toHaveLength(0)
  })

  it('tries a failed first attempt again from the queue after the backoff, and records both', async () => {
    await useWebhookDestination(ctx, { council: BRENT, service: 'missed_bin', url: hook.url, secret: SECRET })
    answers = [...hook.requests.map(() => 200), 503]
    const reference = await report(2, 'HA9 0FJ')
    const delivered = await waitDelivery(ctx, reference, ['delivered'])
    expect(delivered).toMatchObject({ attempts: 2, last_status: 200, last_error: null })
    const [first, second] = requestsFor(reference)
    expect([first?.answered, second?.answered]).toEqual([503, 200])
    // the same delivery id both times, for the council to recognise a repeat
    expect(second!.headers['x-switchboard-delivery']).toBe(first!.headers['x-switchboard-delivery'])
    await deliveriesSettled(ctx)
    // the retry, and only the retry, went through the queue
    expect((await deliverJobs()).completed).toBe(1)
    const events = await eventsOf(ctx, reference)
    expect(events.filter((e) => e.type.startsWith('delivery.')).map((e) => [e.type, e.reason])).toEqual([
      ['delivery.succeeded', expect.stringContaining('on attempt 2')]
    ])
  })

  it('makes an attempt in flight once, though the sweeper enqueues it and another process tries it meanwhile', async () => {
    await useWebhookDestination(ctx, { council: HAMMERSMITH, service: 'missed_bin', url: hook.url, secret: SECRET })
    // the council holds its answer until the test lets it go: the outbox lease (1 s here) runs
    // out meanwhile, so the sweeper finds the row pending with no job and enqueues one
    let answer: (() => void) | undefined
    answers = [...hook.requests.map(() => 200), () => new Promise<number>((resolve) => (answer = () => resolve(200)))]
    // a second set of workers, as another process would run: its deliver worker may take the job
    await ctx.startWorkers()
    const arrived = hook.nextRequest()
    const reference = await report(3, 'W6 9JU')
    await arrived
    const delivery = (await deliveryOf(ctx, reference))!
    // while it is in flight, a claim from anywhere gets nothing, and costs no attempt
    expect(await claimDeliveries(ctx.infra.db, [delivery.id], 60_000)).toEqual([])
    // the sweeper's job is taken by a worker (this process's joins the attempt in flight;
    // the other's finds the delivery held and will retry) while the first attempt is still out
    const jobs = ctx.infra.queues['case:deliver']
    await waitFor(async () => Object.values(await jobs.getJobCounts('active', 'delayed')).some((n) => n > 0), 10_000, 'a worker to take the sweeper\'s job')
    expect(requestsFor(reference)).toHaveLength(1)
    answer!()
    await waitDelivery(ctx, reference, ['delivered'])
    await deliveriesSettled(ctx, 15_000)
    expect(requestsFor(reference)).toHaveLength(1)
    expect(await deliveryOf(ctx, reference)).toMatchObject({ state: 'delivered', attempts: 1 })
    expect((await eventsOf(ctx, reference)).filter((e) => e.type === 'delivery.succeeded')).toHaveLength(1)
  }, 30_000)
})
