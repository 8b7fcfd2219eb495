import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, eventsOf, postContact, waitFor, type TestContext } from '../helpers/context.js'
import { deliveryOf, startReceiver, useWebhookDestination, type Receiver } from '../helpers/delivery.js'
import { exitOf, killIfAlive, spawnTs, workersSettings, type Spawned } from '../helpers/processes.js'
import { LEWISHAM } from '../helpers/councils.js'

// A delivery handed from routing to delivery in the same process has no queue job: if the
// process dies mid-attempt, the outbox row and the claim's lease bring it back, once.

const SECRET = 'whsec_hand_off_kill_0123456789abcdef'

let ctx: TestContext
let answers: Array<number | (() => Promise<number>)> = []
let hook: Receiver

beforeAll(async () => {
  hook = await startReceiver(async (n) => {
    const next = answers[n]
    return typeof next === 'function' ? next() : (next ?? 200)
  })
  // no workers in this process: a workers process of the test's own takes the case
  ctx = await createTestContext()
}, 60_000)
afterAll(async () => {
  await ctx?.close()
  await hook?.close()
})

async function report(n: number, postcode: string): Promise<string> {
  const res = await postContact(ctx, { name: `Test Resident ${n}`, email: `hand.off.kill.${n}@example.com`, postcode, service_code: 'missed_bin' })
  expect(res.statusCode, res.body).toBe(202)
  return (res.json() as { reference: string }).reference
}

function requestsFor(reference: string) {
  return hook.requests.filter((r) => (JSON.parse(r.body) as { case: { reference: string } }).case.reference === reference)
}

describe('a workers process killed mid-attempt', () => {
  it('loses nothing: the delivery is tried again once its lease runs out, and recorded once', async () => {
    await useWebhookDestination(ctx, { council: LEWISHAM, service: 'missed_bin', url: hook.url, secret: SECRET })
    // the first attempt is never answered: the process dies holding it
    let hang: (() => void) | undefined
    answers = [...hook.requests.map(() => 200), () => new Promise<number>((resolve) => (hang = () => resolve(200)))]
    const settings = workersSettings(ctx.config, {
      DELIVERY_BACKOFF_MS: '300',
      // the lease on an attempt: the larger of 10 s and six times this
      DELIVERY_TIMEOUT_MS: '1000'
    })
    let workers: Spawned | undefined
    try {
      workers = spawnTs('src/main.ts', ['workers'], settings)
      const first = workers
      const reference = await report(4, 'SE4 1AA')
      await waitFor(async () => {
        if (!first.alive()) throw new Error(`the workers exited\n${first.output()}`)
        return requestsFor(reference).length > 0
      }, 20_000, 'the attempt to reach the council').catch((err: Error) => {
        throw new Error(`${err.message}\n${first.output().slice(-3000)}`)
      })
      first.proc.kill('SIGKILL')
      expect((await exitOf(first)).signal).toBe('SIGKILL')
      hang?.()
      const held = (await deliveryOf(ctx, reference))!
      // the attempt was counted before it was made, and the delivery is held, not settled
      expect(held).toMatchObject({ state: 'pending', attempts: 1 })
      const killedAt = Date.now()

      workers = spawnTs('src/main.ts', ['workers'], settings)
      const second = workers
      const delivered = await waitFor(
        async () => {
          if (!second.alive()) throw new Error(`the workers exited\n${second.output()}`)
          const d = await deliveryOf(ctx, reference)
          return d?.state === 'delivered' ? d : null
        },
        40_000,
        'the restarted workers to deliver the case'
      )
      // not before the killed attempt's lease ran out: nobody sent it while it might still be in flight
      expect(Date.now() - killedAt).toBeGreaterThan(7_000)
      expect(delivered).toMatchObject({ attempts: 2, last_status: 200 })
      const sent = requestsFor(reference)
      expect(sent).toHaveLength(2)
      expect(sent[1]!.headers['x-switchboard-delivery']).toBe(sent[0]!.headers['x-switchboard-delivery'])
      expect((await eventsOf(ctx, reference)).filter((e) => e.type === 'delivery.succeeded')).toHaveLength(1)
      await waitFor(async () => (await ctx.query(`select 1 from outbox where done_at is null`)).length === 0, 10_000, 'every outbox row done')
    } finally {
      await killIfAlive(workers)
    }
  }, 90_000)
})
