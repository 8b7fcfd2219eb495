import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppError } from '../../src/errors.js'
import { IntakeBatcher } from '../../src/intake/intake-batcher.js'
import { createTestContext, postContact, type TestContext } from '../helpers/context.js'
import { contactBody, inbound, tableCounts } from '../helpers/pipeline.js'

// When Postgres stalls (here: a transaction holding an exclusive lock on cases, as a
// careless migration or a manual fix would), a resident must get a temporary error they
// can retry within a bounded time, never a request left hanging, and nothing half-written.

let ctx: TestContext
let base: string
beforeAll(async () => {
  // the default timeouts, as a deployment has them
  ctx = await createTestContext()
  base = await ctx.app.listen({ host: '127.0.0.1', port: 0 })
})
afterAll(async () => {
  await ctx?.close()
})

/** Opens a transaction on its own connection that holds an exclusive lock on `cases`. */
async function lockCases(): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: ctx.config.DATABASE_URL })
  await client.connect()
  await client.query('begin')
  await client.query('lock table cases in access exclusive mode')
  return {
    async release() {
      await client.query('rollback')
      await client.end()
    }
  }
}

describe('a contact while the cases table is locked', () => {
  it('is answered 503 with Retry-After within 12 s, stores nothing, and is accepted once the lock is gone', async () => {
    const tables = ['raw_inbound', 'residents', 'contact_points', 'cases', 'messages', 'outbox']
    const before = await tableCounts(ctx, tables)
    const lock = await lockCases()
    let answers: { status: number; retryAfter: string | undefined; code: string; ms: number }[]
    try {
      const started = performance.now()
      // over real HTTP, as residents' browsers would send them
      answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fetch(`${base}/v1/contacts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(contactBody(i)) }).then(async (res) => ({
            status: res.status,
            retryAfter: res.headers.get('retry-after') ?? undefined,
            code: ((await res.json()) as { code: string }).code,
            ms: performance.now() - started
          }))
        )
      )
      // and a resident following a case meanwhile is not left hanging either
      const lookup = await fetch(`${base}/v1/contacts/SB-0000-0000-0000?contact=someone@example.com`)
      expect(lookup.status).toBe(503)
      expect(lookup.headers.get('retry-after')).toBeTruthy()
    } finally {
      await lock.release()
    }
    for (const a of answers) {
      expect(a).toMatchObject({ status: 503, code: 'temporarily_unavailable' })
      expect(Number(a.retryAfter)).toBeGreaterThan(0)
      expect(a.ms).toBeLessThan(12_000)
    }
    expect(await tableCounts(ctx, tables)).toEqual(before)

    const next = await postContact(ctx, contactBody(0))
    expect(next.statusCode, next.body).toBe(202)
  }, 60_000)
})

describe('the intake line', () => {
  it('says it is saturated once its head has waited half the limit, so the web channel refuses newcomers at once', async () => {
    const lock = await lockCases()
    const batcher = new IntakeBatcher(ctx.infra.db, { maxInFlight: 1, maxBatch: 32, maxWaiting: 100, maxWaitMs: 1_000 })
    const contact = (i: number) => inbound({ sender: { name: null, email: `sat.${i}@example.com`, phone: null, raw: null }, text: 'bin', location: { postcode: 'LE10 0FR', lat: null, lng: null } })
    try {
      const first = batcher.submit(contact(0)).catch((err: unknown) => err)
      await new Promise((r) => setTimeout(r, 20))
      const second = batcher.submit(contact(1)).catch((err: unknown) => err)
      expect(batcher.saturated()).toBe(false)
      await expect.poll(() => batcher.saturated(), { timeout: 2_000, interval: 20 }).toBe(true)
      // the waiting one is refused at the limit; the line is then empty and open again
      expect(await second).toBeInstanceOf(AppError)
      expect(batcher.saturated()).toBe(false)
      await first
    } finally {
      await lock.release()
    }
  })


  it('refuses at once, with a temporary error, what does not fit in it, and lets nobody wait past the limit', async () => {
    const lock = await lockCases()
    // one statement at a time, three may wait, none longer than 300 ms
    const batcher = new IntakeBatcher(ctx.infra.db, { maxInFlight: 1, maxBatch: 32, maxWaiting: 3, maxWaitMs: 300 })
    try {
      const started = performance.now()
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          // staggered a little so the first is sent before the rest join the line
          new Promise((r) => setTimeout(r, i === 0 ? 0 : 20)).then(() =>
            batcher
              .submit(inbound({ sender: { name: null, email: `line.${i}@example.com`, phone: null, raw: null }, text: 'bin', location: { postcode: 'LE10 0FR', lat: null, lng: null } }))
              .then(
                () => ({ ok: true as const, ms: performance.now() - started }),
                (err: unknown) => ({ ok: false as const, err, ms: performance.now() - started })
              )
          )
        )
      )
      const outcomes = results.map((r) => (r.status === 'fulfilled' ? r.value : { ok: true as const, ms: 0 }))
      expect(outcomes.every((o) => !o.ok)).toBe(true)
      const errors = outcomes.map((o) => ('err' in o ? o.err : null))
      // those that found the line full or waited too long got our 503; the one in flight got Postgres's lock timeout
      const refused = errors.filter((e) => e instanceof AppError && e.code === 'temporarily_unavailable')
      expect(refused.length).toBeGreaterThanOrEqual(9)
      const full = refused.filter((e) => /waiting to be stored/.test((e as AppError).message))
      expect(full.length).toBeGreaterThanOrEqual(6)
      // nobody waited in line much past 300 ms; the statement in flight was cut by lock_timeout
      expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(ctx.config.DATABASE_LOCK_TIMEOUT_MS + 1_500)
      expect(batcher.queued).toBe(0)
    } finally {
      await lock.release()
    }
  })
})
