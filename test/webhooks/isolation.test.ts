import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { startReceiver, type Receiver } from '../helpers/delivery.js'
import { HAMMERSMITH } from '../helpers/councils.js'
import { acceptedIds, api, BRENT, councilKey, eventsFor, report, subscribe, waitSettled, WESTMINSTER, type CreatedSubscription } from './webhooks-helpers.js'

// Council A is Westminster, council B is Brent: separate partnerships, separate keys.
let ctx: TestContext
let keyA: string
let keyB: string
let hookA: Receiver
let hookB: Receiver
let subA: CreatedSubscription
let deadA: string
beforeAll(async () => {
  ctx = await createTestContext({ DELIVERY_ATTEMPTS: 3, DELIVERY_BACKOFF_MS: 50 }, { workers: true })
  keyA = await councilKey(ctx, { council: WESTMINSTER.council })
  keyB = await councilKey(ctx, { council: BRENT.council })
  // A's receiver refuses for good (410), so A has a dead-lettered event for B to try to reach
  hookA = await startReceiver(() => 410)
  hookB = await startReceiver(() => 200)
  subA = await subscribe(ctx, keyA, { url: hookA.url, events: ['case.created', 'case.routed', 'case.updated', 'message.created'] })
  const { reference } = await report(ctx, WESTMINSTER)
  const event = (await waitSettled(ctx, subA.id, reference, ['case.routed'])).find((e) => e.type === 'case.routed')
  expect(event?.state).toBe('dead')
  deadA = event!.event_id
})
afterAll(async () => {
  await hookA?.close()
  await hookB?.close()
  await ctx?.close()
})

describe("a council's key and another council's webhooks", () => {
  it("cannot see, delete or replay another council's subscriptions and events: 404, as if they did not exist", async () => {
    const listed = await api(ctx, keyB, 'GET', '/v1/webhooks')
    expect(listed.statusCode).toBe(200)
    expect(listed.json()).toEqual([])
    const letters = await api(ctx, keyB, 'GET', '/v1/webhooks/dead-letters')
    expect(letters.statusCode).toBe(200)
    expect(letters.json()).toEqual([])

    const deleted = await api(ctx, keyB, 'DELETE', `/v1/webhooks/${subA.id}`)
    expect(deleted.statusCode).toBe(404)
    expect(deleted.json()).toMatchObject({ code: 'not_found' })
    const replayed = await api(ctx, keyB, 'POST', `/v1/webhooks/events/${deadA}/replay`)
    expect(replayed.statusCode).toBe(404)
    // the same answer as for ids that exist nowhere
    expect((await api(ctx, keyB, 'DELETE', '/v1/webhooks/999999')).json()).toMatchObject({ code: 'not_found' })
    expect((await api(ctx, keyB, 'POST', '/v1/webhooks/events/00000000-0000-4000-8000-000000000000/replay')).statusCode).toBe(404)

    // nothing of A's changed
    expect((await api(ctx, keyA, 'GET', '/v1/webhooks')).json()).toEqual([expect.objectContaining({ id: subA.id })])
    expect((await eventsFor(ctx, subA.id)).find((e) => e.event_id === deadA)?.state).toBe('dead')
    // (the case's case.created, announced when it was placed, died at A's receiver too)
    expect((await api(ctx, keyA, 'GET', '/v1/webhooks/dead-letters')).json()).toEqual(
      expect.arrayContaining([expect.objectContaining({ event_id: deadA, type: 'case.routed' }), expect.objectContaining({ type: 'case.created' })])
    )
  })

  it("never sends council B's case events to council A's subscription", async () => {
    const subB = await subscribe(ctx, keyB, { url: hookB.url, events: ['case.created', 'case.routed', 'case.updated', 'message.created'] })
    const { reference } = await report(ctx, BRENT)
    // B hears of its case: the fan-out for it has happened, in the same transaction as the event
    await waitSettled(ctx, subB.id, reference, ['case.routed'])
    expect(acceptedIds(hookB.requests).size).toBeGreaterThan(0)
    expect(hookB.requests.every((r) => r.body.includes(reference))).toBe(true)
    expect((await eventsFor(ctx, subA.id)).some((e) => e.reference === reference)).toBe(false)
    expect(hookA.requests.some((r) => r.body.includes(reference))).toBe(false)
  })

  it('a partnership key acts for its member councils only, and must name one to subscribe', async () => {
    const tri = await councilKey(ctx, { partnership: 'tri-borough' })
    const listed = await api(ctx, tri, 'GET', '/v1/webhooks')
    expect(listed.json()).toEqual([expect.objectContaining({ id: subA.id, council: WESTMINSTER.council })])

    const unnamed = await api(ctx, tri, 'POST', '/v1/webhooks', { url: hookA.url, events: ['case.routed'] })
    expect(unnamed.statusCode).toBe(400)
    expect(unnamed.json()).toMatchObject({ code: 'validation_failed', field: 'council' })
    const outsider = await api(ctx, tri, 'POST', '/v1/webhooks', { url: hookA.url, events: ['case.routed'], council: BRENT.council })
    expect(outsider.statusCode).toBe(422)
    expect(outsider.json()).toMatchObject({ code: 'unknown_council', field: 'council' })
    // a council key cannot subscribe for a neighbour either
    expect((await api(ctx, keyA, 'POST', '/v1/webhooks', { url: hookA.url, events: ['case.routed'], council: BRENT.council })).statusCode).toBe(422)

    const member = await subscribe(ctx, tri, { url: hookA.url, events: ['case.updated'], council: HAMMERSMITH })
    expect(member.council).toBe(HAMMERSMITH)
    // Westminster's own key does not see its partner's subscription
    expect((await api(ctx, keyA, 'GET', '/v1/webhooks')).json()).toEqual([expect.objectContaining({ id: subA.id })])
    expect((await api(ctx, keyA, 'DELETE', `/v1/webhooks/${member.id}`)).statusCode).toBe(404)
    expect((await api(ctx, tri, 'DELETE', `/v1/webhooks/${member.id}`)).statusCode).toBe(204)
  })
})

describe('subscribing', () => {
  it.each([
    ['plain http to another host', 'http://backoffice.example.gov.uk/hooks'],
    ['a scheme other than https', 'ftp://backoffice.example.gov.uk/hooks'],
    ['not a URL', 'backoffice hooks']
  ])('refuses %s with 422 webhook_url_refused and stores nothing', async (_what, url) => {
    const before = await ctx.query<{ n: number }>('select count(*)::int as n from webhook_subscriptions')
    const res = await api(ctx, keyA, 'POST', '/v1/webhooks', { url, events: ['case.routed'] })
    expect(res.statusCode).toBe(422)
    expect(res.json()).toMatchObject({ code: 'webhook_url_refused', field: 'url' })
    expect(await ctx.query('select count(*)::int as n from webhook_subscriptions')).toEqual(before)
  })

  it('accepts an https URL', async () => {
    const sub = await subscribe(ctx, keyA, { url: 'https://backoffice.example.gov.uk/hooks', events: ['case.updated'] })
    expect(sub).toMatchObject({ url: 'https://backoffice.example.gov.uk/hooks', events: ['case.updated'], council: WESTMINSTER.council })
    expect((await api(ctx, keyA, 'DELETE', `/v1/webhooks/${sub.id}`)).statusCode).toBe(204)
    expect((await api(ctx, keyA, 'DELETE', `/v1/webhooks/${sub.id}`)).statusCode).toBe(404)
  })

  it('refuses unknown event types, and needs a key with the right scope', async () => {
    const bad = await api(ctx, keyA, 'POST', '/v1/webhooks', { url: hookA.url, events: ['case.deleted'] })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ code: 'validation_failed' })
    expect((await api(ctx, null, 'GET', '/v1/webhooks')).statusCode).toBe(401)
    const readOnly = await councilKey(ctx, { council: WESTMINSTER.council }, ['read'])
    expect((await api(ctx, readOnly, 'GET', '/v1/webhooks')).statusCode).toBe(200)
    expect((await api(ctx, readOnly, 'POST', '/v1/webhooks', { url: hookA.url, events: ['case.routed'] })).statusCode).toBe(401)
    expect((await api(ctx, readOnly, 'POST', `/v1/webhooks/events/${deadA}/replay`)).statusCode).toBe(401)
    expect((await api(ctx, readOnly, 'DELETE', `/v1/webhooks/${subA.id}`)).statusCode).toBe(401)
  })

  it('documents every webhook route in the OpenAPI document', async () => {
    const doc = (await ctx.app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { tags?: string[] }>> }
    const routes = ['/v1/webhooks', '/v1/webhooks/dead-letters', '/v1/webhooks/{id}', '/v1/webhooks/events/{event_id}/replay']
    for (const path of routes) {
      expect(Object.values(doc.paths[path] ?? {}).length, path).toBeGreaterThan(0)
      for (const op of Object.values(doc.paths[path]!)) expect(op.tags).toEqual(['webhooks'])
    }
  })
})
