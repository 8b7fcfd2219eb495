import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Db } from '../../src/db/pool.js'
import { intakeContacts } from '../../src/intake/intake.js'
import { RouteBatcher } from '../../src/routing/route-batcher.js'
import type { RouteJobRef } from '../../src/routing/route-case.js'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { inbound, PLACES, uid } from '../helpers/pipeline.js'

// While cases keep arriving, routing gathers them into batches at most one per
// ROUTE_BATCH_GAP_MS, instead of a statement per case; a case after a quiet spell is placed
// at once.

let ctx: TestContext
beforeAll(async () => {
  // no workers: the test's own batcher places the cases
  ctx = await createTestContext({}, { mail: 'demo' })
})
afterAll(async () => {
  await ctx?.close()
})

async function newCases(n: number): Promise<RouteJobRef[]> {
  const stored = await intakeContacts(
    ctx.infra.db,
    Array.from({ length: n }, (_, i) => {
      const place = PLACES[i % PLACES.length]!
      return inbound({
        sender: { name: `Test Resident ${i}`, email: `gap.${i}.${uid()}@example.com`, phone: null, raw: null },
        serviceCode: place.service_code,
        location: { postcode: place.postcode, lat: null, lng: null }
      })
    })
  )
  return stored.map((s) => ({ caseId: s.caseId, outboxId: s.outbox!.id }))
}

/** The test database, counting the batch writes that go through it (the statements are real). */
function countingDb(): { db: Db; writes: () => number } {
  let writes = 0
  const pool = ctx.infra.db
  const db = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown
      return (...args: Parameters<Db['query']>) => {
        const q = args[0] as { name?: string } | string
        if (typeof q === 'object' && q.name === 'route-write-placements') writes++
        return (target.query as (...a: unknown[]) => unknown)(...args)
      }
    }
  })
  return { db, writes: () => writes }
}

function batcher(db: Db, minGapMs: number) {
  return new RouteBatcher({ db, catalogue: ctx.infra.catalogue, queues: ctx.infra.queues, log: ctx.infra.log }, { maxInFlight: 1, maxBatch: 200, minGapMs })
}

describe('gathering cases into batches', () => {
  it('places a case at once after a quiet spell, however long the gap', async () => {
    const [job] = await newCases(1)
    const { db, writes } = countingDb()
    const started = performance.now()
    expect(await batcher(db, 5_000).route(job!)).toBe('routed')
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(writes()).toBe(1)
  })

  it('places a steady stream a handful at a time, each case as routing one alone would', async () => {
    const jobs = await newCases(12)
    const { db, writes } = countingDb()
    const b = batcher(db, 300)
    // one case every 20 ms: without the gap, each would find routing idle and go alone
    const outcomes: Array<Promise<string>> = []
    for (const job of jobs) {
      outcomes.push(b.route(job))
      await sleep(20)
    }
    expect(await Promise.all(outcomes)).toEqual(jobs.map(() => 'routed'))
    // the first at once, the rest in at most two more batches (12 × 20 ms spans the gap once)
    expect(writes()).toBeGreaterThanOrEqual(2)
    expect(writes()).toBeLessThanOrEqual(3)
    const events = await ctx.query<{ n: number }>(
      `select count(*)::int as n from case_events where case_id = any($1) and type in ('case.service_chosen', 'case.routed')`,
      [jobs.map((j) => j.caseId)]
    )
    expect(events[0]!.n).toBe(24)
    expect(await b.idle()).toBeUndefined()
    expect(b.pending()).toBe(0)
  })
})
