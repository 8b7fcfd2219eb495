import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPool } from '../../src/db/pool.js'
import { isTransientInfraError } from '../../src/errors.js'
import type { InboundContact } from '../../src/intake/inbound-contact.js'
import { IntakeBatcher } from '../../src/intake/intake-batcher.js'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { inbound, tableCounts, uid } from '../helpers/pipeline.js'

// While every statement slot is busy, contacts that arrive are stored together by the next
// statement. Each sender must still get their own case, committed before they are answered.
let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})

const contact = (email: string, text: string, over: Partial<InboundContact> = {}) =>
  inbound({ sender: { name: null, email, phone: null, raw: null }, text, location: { postcode: 'LE10 0FR', lat: null, lng: null }, ...over })

/** One slot: the first contact has it, everything submitted meanwhile waits for the next statement. */
const oneSlot = () => new IntakeBatcher(ctx.infra.db, { maxInFlight: 1, maxBatch: 32 })
/** Contacts submitted in one turn of the event loop go together: let the first one leave alone. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

async function casesOf(references: string[]) {
  return ctx.query<{ reference: string; description: string; email: string; tx: string; resident_id: number }>(
    `select c.reference, c.description, cp.value as email, c.xmin::text as tx, c.resident_id
       from cases c join contact_points cp on cp.resident_id = c.resident_id and cp.kind = 'email'
      where c.reference = any($1)`,
    [references]
  )
}

describe('storing contacts in batches while the database is busy', () => {
  it('stores the contacts that waited in one transaction, and answers each sender with their own case', async () => {
    const run = uid()
    const batcher = oneSlot()
    const first = batcher.submit(contact(`first.${run}@example.com`, 'first: a pothole'))
    await nextTurn()
    // submitted in the reverse of the order the batch stores them in, so a mix-up would show
    const waiting = Array.from({ length: 10 }, (_, i) => 9 - i).map((i) => ({
      email: `w${i}.${run}@example.com`,
      text: `waiting ${i}: a missed bin`,
      result: batcher.submit(contact(`w${i}.${run}@example.com`, `waiting ${i}: a missed bin`))
    }))
    const firstResult = await first
    const results = await Promise.all(waiting.map((w) => w.result))

    const references = results.map((r) => r.reference)
    expect(new Set(references).size).toBe(10)
    const rows = await casesOf([firstResult.reference, ...references])
    const byRef = new Map(rows.map((r) => [r.reference, r]))
    waiting.forEach((w, i) => {
      expect(byRef.get(references[i]!)).toMatchObject({ description: w.text, email: w.email })
      expect(results[i]).toMatchObject({ opened: true, replayed: false })
      expect(results[i]!.outbox).toMatchObject({ id: expect.any(Number), topic: 'case:route', job_key: expect.any(String) })
    })
    // rows written by one transaction carry its id: the ten share one, the first has its own
    const batchTx = new Set(references.map((r) => byRef.get(r)!.tx))
    expect(batchTx.size).toBe(1)
    expect(batchTx.has(byRef.get(firstResult.reference)!.tx)).toBe(false)
  })

  it('gives two contacts from one address in a batch one resident, and answers a repeated message with the first answer', async () => {
    const run = uid()
    const batcher = oneSlot()
    const email = `same.${run}@example.com`
    const blocker = batcher.submit(contact(`blocker.${run}@example.com`, 'takes the slot'))
    await nextTurn()
    const a = batcher.submit(contact(email, 'first report', { providerMessageId: `key-a-${run}` }))
    const b = batcher.submit(contact(email, 'second report', { providerMessageId: `key-b-${run}` }))
    const again = batcher.submit(contact(email, 'first report', { providerMessageId: `key-a-${run}` }))
    await blocker
    const [ra, rb, rAgain] = await Promise.all([a, b, again])

    expect(ra!.reference).not.toBe(rb!.reference)
    expect(rAgain).toMatchObject({ reference: ra!.reference, replayed: true, samePayload: true, opened: false, outbox: null })
    const rows = await casesOf([ra!.reference, rb!.reference])
    expect(new Set(rows.map((r) => r.resident_id)).size).toBe(1)
    expect(await ctx.query('select 1 from contact_points where value = $1', [email])).toHaveLength(1)
    expect(await ctx.query('select 1 from raw_inbound where provider_message_id = $1', [`key-a-${run}`])).toHaveLength(1)
  })

  it('threads a second text onto the case the first text of the same batch opened, with each message and event in order', async () => {
    const run = uid()
    const batcher = oneSlot()
    // a fictitious number of Ofcom's drama range, unique to this run
    const phone = `+44113496${String(parseInt(run, 16) % 10_000).padStart(4, '0')}`
    const text = (body: string, id: string) =>
      inbound({
        channel: 'sms',
        provider: 'twilio',
        providerMessageId: `SM${id}${run}`,
        sender: { name: null, email: null, phone, raw: phone, verified: { phone: true } },
        recipient: '+447700900100',
        text: body,
        location: { postcode: 'LE10 0FR', lat: null, lng: null },
        threadWindowSecs: 3600
      })
    const blocker = batcher.submit(contact(`blocker3.${run}@example.com`, 'takes the slot'))
    await nextTurn()
    const first = batcher.submit(text('the bin was not collected', 'a'))
    const second = batcher.submit(text('and it is the second week running', 'b'))
    await blocker
    const [r1, r2] = await Promise.all([first, second])

    expect(r1).toMatchObject({ opened: true, replayed: false })
    expect(r2).toMatchObject({ caseId: r1.caseId, reference: r1.reference, opened: false, replayed: false, outbox: null })
    const messages = await ctx.query<{ body: string; tx: string }>('select body, xmin::text as tx from messages where case_id = $1 order by id', [r1.caseId])
    expect(messages.map((m) => m.body)).toEqual(['the bin was not collected', 'and it is the second week running'])
    // both in the batch's one transaction
    expect(new Set(messages.map((m) => m.tx)).size).toBe(1)
    const events = await ctx.query<{ type: string; actor: string }>(`select type, actor from case_events where case_id = $1 and actor = 'intake:sms' order by id`, [r1.caseId])
    expect(events.map((e) => e.type)).toEqual(['case.opened', 'message.received'])
    const outbox = await ctx.query<{ id: number }>(`select id from outbox where topic = 'case:route' and payload->>'case_id' = $1`, [String(r1.caseId)])
    expect(outbox.map((o) => o.id)).toEqual([r1.outbox!.id])
  })

  it('fails only the contact Postgres refuses; the others in its batch are stored', async () => {
    const run = uid()
    const batcher = oneSlot()
    const blocker = batcher.submit(contact(`blocker2.${run}@example.com`, 'takes the slot'))
    await nextTurn()
    const [good1, bad, good2] = await Promise.allSettled([
      batcher.submit(contact(`good1.${run}@example.com`, 'good one')),
      // no such channel: the cases table's check constraint refuses it
      batcher.submit(contact(`bad.${run}@example.com`, 'bad one', { channel: 'pigeon' as InboundContact['channel'], providerMessageId: `bad-${run}` })),
      batcher.submit(contact(`good2.${run}@example.com`, 'good two'))
    ])
    await blocker

    expect(bad).toMatchObject({ status: 'rejected', reason: { code: '23514' } })
    if (good1.status !== 'fulfilled' || good2.status !== 'fulfilled') throw new Error('a good contact was refused with the bad one')
    const stored = await casesOf([good1.value.reference, good2.value.reference])
    expect(stored.map((r) => r.description).sort()).toEqual(['good one', 'good two'])
    // and nothing of the refused one was kept
    expect(await ctx.query('select 1 from raw_inbound where provider_message_id = $1', [`bad-${run}`])).toHaveLength(0)
    expect(await ctx.query('select 1 from contact_points where value = $1', [`bad.${run}@example.com`])).toHaveLength(0)
  })

  it('fails every waiting contact at once, storing nothing, when Postgres cannot be reached', async () => {
    const down = createPool({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DATABASE_POOL_SIZE: 2 })
    try {
      const counts = await tableCounts(ctx, ['raw_inbound', 'cases'])
      const batcher = new IntakeBatcher(down, { maxInFlight: 1, maxBatch: 32 })
      const outcomes = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => batcher.submit(contact(`down${i}.${uid()}@example.com`, 'while down'))))
      for (const o of outcomes) {
        expect(o.status).toBe('rejected')
        // what the API turns into 503 with Retry-After
        expect(isTransientInfraError((o as PromiseRejectedResult).reason)).toBe(true)
      }
      expect(await tableCounts(ctx, Object.keys(counts))).toEqual(counts)
    } finally {
      await down.end()
    }
  })
})
