import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { applyCouncilUpdate } from '../../src/cases/council-updates.js'
import { outboundClient } from '../../src/delivery/safe-fetch.js'
import { sendWebhookEvent } from '../../src/webhooks/send-event.js'
import { caseRow, createTestContext, waitFor, type TestContext } from '../helpers/context.js'
import { reservePort, startReceiver, type Receiver, type Responder } from '../helpers/delivery.js'
import { acceptedIds, api, BRENT, councilKey, eventsFor, expectSigned, HINCKLEY, report, subscribe, waitSettled, WESTMINSTER, type Place } from './webhooks-helpers.js'

// 6 attempts 50 ms apart, doubling: an event is dead-lettered about 1.5 s after its first attempt
const ATTEMPTS = 6
let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ DELIVERY_ATTEMPTS: ATTEMPTS, DELIVERY_BACKOFF_MS: 50 }, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

const receivers: Receiver[] = []
async function receiver(respond: Responder) {
  const r = await startReceiver(respond)
  receivers.push(r)
  return r
}
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close()
})

/** A case opened at `place`, routed by the workers, then given a status by its council. */
async function caseWithUpdate(place: Place, forResident = false) {
  const { reference, email } = await report(ctx, place)
  const row = await waitFor(async () => {
    const c = await caseRow(ctx, reference)
    return c?.status === 'routed' || c?.status === 'with_back_office' ? c : null
  }, 15_000, `case ${reference} to be routed`)
  expect(row.council_gss).toBe(place.council)
  const { config, catalogue, db } = ctx.infra
  await applyCouncilUpdate({ db, catalogue, emailDomain: config.EMAIL_DOMAIN, mailFrom: config.MAIL_FROM }, row.id, {
    status: 'in_progress',
    description: 'A crew is on its way',
    forResident,
    source: 'test'
  })
  return { reference, email }
}

describe('council webhooks', () => {
  it("sends every event of the council's cases, signed both ways, with the case's council fields only", async () => {
    const hook = await receiver(() => 200)
    const key = await councilKey(ctx, { council: WESTMINSTER.council })
    const sub = await subscribe(ctx, key, { url: hook.url, events: ['case.created', 'case.routed', 'case.updated', 'message.created'] })
    expect(sub.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/)
    expect(sub.council).toBe(WESTMINSTER.council)

    // the update is for the resident too: the email queued to them is a message.created
    const { reference, email } = await caseWithUpdate(WESTMINSTER, true)
    const events = await waitSettled(ctx, sub.id, reference, ['case.created', 'case.routed', 'case.updated', 'message.created'])
    expect(events.every((e) => e.state === 'delivered')).toBe(true)
    // a web case's council is known once it is placed: it is announced created, then routed
    const types = events.map((e) => e.type)
    expect(types.indexOf('case.created')).toBeLessThan(types.indexOf('case.routed'))

    // every event arrived once, and nothing else did
    const accepted = acceptedIds(hook.requests)
    expect([...accepted.keys()].sort()).toEqual(events.map((e) => e.event_id).sort())
    expect([...accepted.values()].every((n) => n === 1)).toBe(true)

    for (const req of hook.requests) {
      const body = expectSigned(req, sub.secret) as { id: string; type: string; created_at: string; data: { case: Record<string, unknown>; event: Record<string, unknown> } }
      expect(body.data.case).toMatchObject({ reference, council_gss: WESTMINSTER.council, service_code: WESTMINSTER.service_code })
      expect(Object.keys(body.data.case).sort()).toEqual(['back_office_status', 'council_gss', 'council_reference', 'reference', 'service_code', 'status'])
      expect(new Date(body.created_at).toISOString()).toBe(body.created_at)
      // the resident's details stay out of it
      expect(req.body).not.toContain(email)
      expect(req.body).not.toContain('Webhook Resident')
    }
    const updated = hook.requests.map((r) => JSON.parse(r.body) as { type: string; data: { case: { back_office_status: string }; event: { data: { status: string } } } }).find((b) => b.type === 'case.updated')
    expect(updated?.data.case.back_office_status).toBe('in_progress')
    expect(updated?.data.event.data.status).toBe('in_progress')

    // the secret is shown once: listing never shows it
    const listed = await api(ctx, key, 'GET', '/v1/webhooks')
    expect(listed.statusCode).toBe(200)
    expect(listed.json()).toEqual([expect.objectContaining({ id: sub.id, url: hook.url, council: WESTMINSTER.council })])
    expect(listed.body).not.toContain(sub.secret)
    // and the log lines carry neither the secret nor the resident
    expect(ctx.logs.some((l) => l.includes(sub.secret) || l.includes(email))).toBe(false)
    expect((await api(ctx, key, 'DELETE', `/v1/webhooks/${sub.id}`)).statusCode).toBe(204)
  })

  it('keeps trying a receiver that fails for a while, and once it recovers it has every event exactly once', async () => {
    let failing = true
    const hook = await receiver(() => (failing ? 503 : 200))
    const key = await councilKey(ctx, { council: HINCKLEY.council })
    const sub = await subscribe(ctx, key, { url: hook.url, events: ['case.routed', 'case.updated', 'message.created'] })

    const { reference } = await caseWithUpdate(HINCKLEY)
    // both events have been refused at least twice before the receiver comes back
    await waitFor(async () => {
      const events = await eventsFor(ctx, sub.id)
      const types = new Set(events.map((e) => e.type))
      return types.has('case.routed') && types.has('case.updated') && events.every((e) => e.attempts >= 2) ? events : null
    }, 15_000, 'every event to be refused twice')
    expect(hook.requests.every((r) => r.answered === 503 || r.answered === 0)).toBe(true)
    failing = false

    const events = await waitSettled(ctx, sub.id, reference, ['case.routed', 'case.updated'])
    expect(events.map((e) => e.state)).toEqual(events.map(() => 'delivered'))
    const accepted = acceptedIds(hook.requests)
    // none missing, none twice
    expect([...accepted.keys()].sort()).toEqual(events.map((e) => e.event_id).sort())
    expect([...accepted.values()].every((n) => n === 1)).toBe(true)
    // the retries were the same event, each attempt signed afresh
    for (const req of hook.requests) expectSigned(req, sub.secret)
    expect(hook.requests.length).toBeGreaterThan(accepted.size)
  })

  it('dead-letters an event its receiver never accepts, lists it, and delivers it when replayed', async () => {
    let fixed = false
    const hook = await receiver(() => (fixed ? 204 : 503))
    const key = await councilKey(ctx, { council: BRENT.council })
    const sub = await subscribe(ctx, key, { url: hook.url, events: ['case.routed'] })

    const { reference } = await report(ctx, BRENT)
    const [dead] = await waitSettled(ctx, sub.id, reference, ['case.routed'])
    expect(dead).toMatchObject({ state: 'dead', attempts: ATTEMPTS })
    expect(hook.requests).toHaveLength(ATTEMPTS)
    expect(new Set(hook.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([dead!.event_id]))

    const letters = await api(ctx, key, 'GET', '/v1/webhooks/dead-letters')
    expect(letters.statusCode).toBe(200)
    expect(letters.json()).toEqual([
      expect.objectContaining({ event_id: dead!.event_id, subscription_id: sub.id, type: 'case.routed', case_reference: reference, attempts: ATTEMPTS, last_status: 503, last_error: 'HTTP 503' })
    ])

    fixed = true
    const replay = await api(ctx, key, 'POST', `/v1/webhooks/events/${dead!.event_id}/replay`)
    expect(replay.statusCode, replay.body).toBe(202)
    expect(replay.json()).toEqual({ event_id: dead!.event_id, state: 'pending' })

    await waitFor(async () => (await eventsFor(ctx, sub.id)).find((e) => e.state === 'delivered'), 10_000, 'the replayed event to be delivered')
    const accepted = acceptedIds(hook.requests)
    expect([...accepted.entries()]).toEqual([[dead!.event_id, 1]])
    expectSigned(hook.requests.at(-1)!, sub.secret)
    expect((await api(ctx, key, 'GET', '/v1/webhooks/dead-letters')).json()).toEqual([])

    // a delivered event can be sent again too, under the same id
    const again = await api(ctx, key, 'POST', `/v1/webhooks/events/${dead!.event_id}/replay`)
    expect(again.statusCode).toBe(202)
    await waitFor(async () => (acceptedIds(hook.requests).get(dead!.event_id) === 2 ? true : null), 10_000, 'the second replay to arrive')
    const [settled] = await waitFor(async () => {
      const events = await eventsFor(ctx, sub.id)
      return events[0]?.state === 'delivered' ? events : null
    }, 10_000, 'the second replay to settle')

    // a duplicate job for the delivered event (a re-enqueue after a lost ack) sends nothing
    const sent = hook.requests.length
    const [outbox] = await ctx.query<{ id: number }>(`select id from outbox where topic = 'webhook:send' and payload->>'webhook_event_id' = $1::text order by id desc limit 1`, [settled!.id])
    const settings = { maxAttempts: ATTEMPTS, timeoutMs: 2_000, production: false, outbound: outboundClient(ctx.config.WEBHOOK_ALLOW_PRIVATE_CIDRS) }
    expect(await sendWebhookEvent({ db: ctx.infra.db, log: ctx.infra.log, settings }, { webhookEventId: settled!.id, outboxId: outbox!.id })).toBe('already_settled')
    expect(hook.requests).toHaveLength(sent)
  })

  it('tells the council why in a few words, never with the socket error: a receiver nobody listens at is "connection refused"', async () => {
    const port = await reservePort()
    const key = await councilKey(ctx, { council: BRENT.council })
    const sub = await subscribe(ctx, key, { url: `http://127.0.0.1:${port}/hooks`, events: ['case.routed'] })
    const { reference } = await report(ctx, BRENT)
    const [dead] = await waitSettled(ctx, sub.id, reference, ['case.routed'])
    expect(dead).toMatchObject({ state: 'dead', attempts: ATTEMPTS })
    const letters = (await api(ctx, key, 'GET', '/v1/webhooks/dead-letters')).json() as Array<{ event_id: string; last_status: number | null; last_error: string }>
    expect(letters.find((l) => l.event_id === dead!.event_id)).toMatchObject({ last_status: null, last_error: 'connection refused' })
    expect(JSON.stringify(letters)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|:\d{4,5}\b/)
    expect((await api(ctx, key, 'DELETE', `/v1/webhooks/${sub.id}`)).statusCode).toBe(204)
  })

  it('dead-letters at once on an answer that retrying will not fix (410)', async () => {
    const hook = await receiver(() => 410)
    const key = await councilKey(ctx, { council: WESTMINSTER.council })
    const sub = await subscribe(ctx, key, { url: hook.url, events: ['case.routed'] })
    const { reference } = await report(ctx, WESTMINSTER)
    const events = await waitSettled(ctx, sub.id, reference, ['case.routed'])
    expect(events).toEqual([expect.objectContaining({ state: 'dead', attempts: 1 })])
    expect(hook.requests).toHaveLength(1)
    expect((await api(ctx, key, 'DELETE', `/v1/webhooks/${sub.id}`)).statusCode).toBe(204)
  })
})
