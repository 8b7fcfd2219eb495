import { Writable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { IntakeBatcher } from '../../src/intake/intake-batcher.js'
import type { IntakeResult } from '../../src/intake/intake.js'
import type { OutboxRow } from '../../src/jobs/outbox-relay.js'
import { outboxJobId } from '../../src/jobs/queues.js'
import { IntakePressure } from '../../src/lib/intake-pressure.js'
import { createLogger } from '../../src/logger.js'
import { watchForBursts, type BurstWatch } from '../../workers/give-way.js'
import { createRouteBatcher, LocalRouting } from '../../workers/route.js'
import { createTestContext, waitFor, type TestContext } from '../helpers/context.js'
import { inbound, uid } from '../helpers/pipeline.js'

// Giving way in the all-in-one process (INTAKE_PRIORITY): while contacts arrive faster
// than Postgres stores them, new cases wait for routing, each for a bounded time. Real
// Postgres and Redis: what is tested is which cases get placed, and when.
let ctx: TestContext
const logs: string[] = []
const log = createLogger(
  { LOG_LEVEL: 'info' },
  new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk))
      done()
    }
  })
)
let watch: BurstWatch | null = null
let local: LocalRouting | null = null

beforeAll(async () => {
  ctx = await createTestContext({}, { mail: 'demo' })
})
afterEach(async () => {
  watch?.stop()
  watch = null
  await local?.close()
  local = null
  logs.length = 0
})
afterAll(async () => {
  await ctx?.close()
})

const contact = (run: string, i: number) =>
  inbound({ sender: { name: null, email: `give-way.${run}.${i}@example.com`, phone: null, raw: null }, text: `missed bin ${run} ${i}`, location: { postcode: 'LE10 0FR', lat: null, lng: null } })

/** Stores `n` contacts and returns their new cases' outbox rows, as the API hands them over. */
async function newCases(n: number): Promise<{ rows: OutboxRow[]; ids: number[] }> {
  const run = uid()
  const batcher = new IntakeBatcher(ctx.infra.db, { maxInFlight: 2, maxBatch: 32 })
  const results: IntakeResult[] = await Promise.all(Array.from({ length: n }, (_, i) => batcher.submit(contact(run, i))))
  return { rows: results.map((r) => r.outbox!), ids: results.map((r) => r.caseId) }
}

async function statuses(ids: number[]): Promise<string[]> {
  const rows = await ctx.query<{ status: string }>('select status from cases where id = any($1) order by id', [ids])
  return rows.map((r) => r.status)
}

describe('what counts as a burst of contacts', () => {
  it('more contacts in hand than the API has statement slots, over two seconds; over once they are answered', async () => {
    const pressure = new IntakePressure()
    watch = watchForBursts(pressure, log, { intervalMs: 20, crowd: 4 })
    const inHand = Array.from({ length: 6 }, () => pressure.begin())
    await waitFor(async () => watch!.on, 3_000, 'a burst to be seen')
    expect(logs.join('')).toContain('burst of contacts: new cases wait for routing')
    inHand.forEach((end) => end())
    await waitFor(async () => !watch!.on, 3_000, 'the burst to be over')
    expect(logs.join('')).toContain('burst over: routing the cases held back')
  })

  it('is not a steady stream with fewer in hand than that, nor one moment of many', async () => {
    // the readings a steady stream gives (two in hand), with a moment of eight among them
    // (a pause for garbage collection): over two seconds (eight readings), never four on average
    const script = [2, 2, 2, 2, 2, 2, 2, 2, 8, 8, 2, 2, 2, 2, 2, 2, 2, 2]
    let readings = 0
    const scripted = { sample: () => ({ mean: script[Math.min(readings++, script.length - 1)]!, busy: 1 }) }
    const seen: boolean[] = []
    watch = watchForBursts(scripted, log, { intervalMs: 20, crowd: 4 })
    await waitFor(async () => {
      seen.push(watch!.on)
      return readings >= script.length
    }, 5_000, 'every scripted reading')
    expect(seen).not.toContain(true)
    expect(logs.join('')).not.toContain('burst of contacts')

    // and the same readings with two seconds of eight: a burst
    script.splice(8, 8, 8, 8, 8, 8, 8, 8, 8, 8)
    readings = 0
    watch.stop()
    watch = watchForBursts(scripted, log, { intervalMs: 20, crowd: 4 })
    await waitFor(async () => watch!.on, 3_000, 'a burst after two seconds of eight in hand')
  })
})

describe('new cases during a burst (LocalRouting with giving way)', () => {
  const routing = () => createRouteBatcher(ctx.infra)

  it('wait, unplaced, while the burst lasts, and are placed once it is over', async () => {
    const burst = { on: true }
    const batcher = routing()
    local = new LocalRouting(ctx.infra, batcher, { limit: 100, maxHeld: 1_000, maxWaitMs: 60_000, giveWay: { burst, maxLagMs: 60_000 } })
    const held = await newCases(5)
    local.take(held.rows)
    // a case given to the batcher directly is placed meanwhile: routing itself runs
    const control = await newCases(1)
    await batcher.route({ caseId: control.ids[0]!, outboxId: control.rows[0]!.id })
    expect(await statuses(control.ids)).toEqual(['routed'])
    expect(local.waiting()).toBe(5)
    expect(await statuses(held.ids)).toEqual(Array(5).fill('received'))

    burst.on = false
    await waitFor(async () => (await statuses(held.ids)).every((s) => s === 'routed'), 5_000, 'the held cases to be routed')
    expect(local.waiting()).toBe(0)
  })

  it('are held no longer than the lag allowed, however long the burst lasts', async () => {
    const burst = { on: true }
    local = new LocalRouting(ctx.infra, routing(), { limit: 100, maxHeld: 1_000, maxWaitMs: 60_000, giveWay: { burst, maxLagMs: 300 } })
    const held = await newCases(3)
    local.take(held.rows)
    await waitFor(async () => (await statuses(held.ids)).every((s) => s === 'routed'), 5_000, 'the cases to be routed despite the burst')
    expect(burst.on).toBe(true)
  })

  it('go to the case:route queue if the process stops while they wait', async () => {
    const burst = { on: true }
    local = new LocalRouting(ctx.infra, routing(), { limit: 100, maxHeld: 1_000, maxWaitMs: 60_000, giveWay: { burst, maxLagMs: 60_000 } })
    const held = await newCases(2)
    local.take(held.rows)
    await local.close()
    local = null
    const jobs = await Promise.all(held.rows.map((r) => ctx.infra.queues['case:route'].getJob(outboxJobId(r))))
    expect(jobs.map((j) => j?.data)).toEqual(held.ids.map((caseId, i) => expect.objectContaining({ caseId, outboxId: held.rows[i]!.id })))
    expect(await statuses(held.ids)).toEqual(['received', 'received'])
  })

  it('beyond what may wait in memory, go to the queue at once', async () => {
    local = new LocalRouting(ctx.infra, routing(), { limit: 100, maxHeld: 2, maxWaitMs: 60_000, giveWay: { burst: { on: true }, maxLagMs: 60_000 } })
    const held = await newCases(3)
    local.take(held.rows)
    expect(local.waiting()).toBe(2)
    const third = await waitFor(async () => ctx.infra.queues['case:route'].getJob(outboxJobId(held.rows[2]!)), 3_000, 'the third case queued')
    expect(third.data).toMatchObject({ caseId: held.ids[2] })
  })
})

describe('the lag allowed', () => {
  it('must stay below the outbox lease, or a held case would be queued a second time', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', INTAKE_PRIORITY: true, INTAKE_PRIORITY_MAX_LAG_MS: 20_000, OUTBOX_LEASE_MS: 30_000 }, {})).toThrow(ConfigError)
    expect(() => loadConfig({ NODE_ENV: 'test', INTAKE_PRIORITY: true, INTAKE_PRIORITY_MAX_LAG_MS: 20_000, OUTBOX_LEASE_MS: 30_000 }, {})).toThrow(/INTAKE_PRIORITY_MAX_LAG_MS .* at most half of OUTBOX_LEASE_MS/)
    expect(loadConfig({ NODE_ENV: 'test', INTAKE_PRIORITY: true, INTAKE_PRIORITY_MAX_LAG_MS: 15_000, OUTBOX_LEASE_MS: 30_000 }, {}).INTAKE_PRIORITY_MAX_LAG_MS).toBe(15_000)
    // unset: 15 s, or half a shorter lease
    expect(loadConfig({ NODE_ENV: 'test' }, {}).INTAKE_PRIORITY_MAX_LAG_MS).toBe(15_000)
    expect(loadConfig({ NODE_ENV: 'test', OUTBOX_LEASE_MS: 1_000 }, {}).INTAKE_PRIORITY_MAX_LAG_MS).toBe(500)
  })
})
