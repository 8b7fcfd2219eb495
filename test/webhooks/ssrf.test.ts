import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createTestContext, postContact, type TestContext } from '../helpers/context.js'
import { useWebhookDestination, waitDelivery } from '../helpers/delivery.js'
import { api, councilKey, eventsFor, report, startTrap, waitSettled, WESTMINSTER, type Trap } from './webhooks-helpers.js'

// The production rule: no private range allowed (production's default). Outside production
// the default allows loopback, for local receivers; this file takes that away.
let ctx: TestContext
let trap: Trap
// connections to the trap before each test: a test adds none
let connectionsBefore = 0
let key: string
beforeAll(async () => {
  ctx = await createTestContext({ WEBHOOK_ALLOW_PRIVATE_CIDRS: 'none', DELIVERY_ATTEMPTS: 3, DELIVERY_BACKOFF_MS: 50 }, { workers: true })
  trap = await startTrap()
  key = await councilKey(ctx, { council: WESTMINSTER.council })
})
beforeEach(() => {
  connectionsBefore = trap.connections
})
afterAll(async () => {
  await trap?.close()
  await ctx?.close()
})

const subscriptionCount = async () => (await ctx.query<{ n: number }>('select count(*)::int as n from webhook_subscriptions'))[0]!.n

describe('subscribing a council webhook to an address that is not public', () => {
  // what the security review subscribed in production with a council key (issue 20)
  it.each([
    'https://127.0.0.1:6379/',
    'https://10.0.0.1/',
    'https://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'https://[::1]:5432/',
    'https://[::ffff:127.0.0.1]/',
    'https://2130706433/',
    'https://0x7f.1/',
    'https://0.0.0.0/',
    'https://localhost/',
    'https://[fd00::1]/',
    'https://100.64.0.1/'
  ])('refuses %s with 422 naming url, and stores nothing', async (url) => {
    const before = await subscriptionCount()
    const res = await api(ctx, key, 'POST', '/v1/webhooks', { url, events: ['case.routed'] })
    expect(res.statusCode).toBe(422)
    expect(res.json()).toMatchObject({ code: 'webhook_url_refused', field: 'url', message: expect.stringContaining('not public') })
    expect(await subscriptionCount()).toBe(before)
  })

  it('refuses a URL with a user name and password, and neither the answer nor the log shows them', async () => {
    const before = await subscriptionCount()
    const logged = ctx.logs.length
    const res = await api(ctx, key, 'POST', '/v1/webhooks', { url: 'https://council-user:Sup3rSecretPw@backoffice.example.gov.uk/hooks', events: ['case.routed'] })
    expect(res.statusCode).toBe(422)
    expect(res.json()).toMatchObject({ code: 'webhook_url_refused', field: 'url', message: expect.stringContaining('user name or password') })
    expect(await subscriptionCount()).toBe(before)
    // the request was logged (so this looks at its lines), and none of them holds the credentials
    const lines = ctx.logs.slice(logged)
    expect(lines.some((l) => l.includes('"statusCode":422'))).toBe(true)
    expect(lines.filter((l) => /Sup3rSecretPw|council-user/.test(l))).toEqual([])
    expect(res.body).not.toMatch(/Sup3rSecretPw|council-user/)
  })
})

describe('sending to a subscription whose address is not public', () => {
  it('connects to none of them, dead-letters each at once, and tells the council only that the address is not public', async () => {
    // as made before this check existed: stored as given, each aimed at the trap's port
    const hosts = ['127.0.0.1', 'localhost', '[::1]', '[::ffff:127.0.0.1]', '2130706433', '0x7f.1', '0.0.0.0', '[::]']
    const urls = [...hosts.map((h) => `https://${h}:${trap.port}/hooks`), `http://127.0.0.1:${trap.port}/hooks`]
    const subs = await ctx.query<{ id: number }>(
      `insert into webhook_subscriptions (council_gss, url, secret, events)
       select $1, u, 'whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0', array['case.routed'] from unnest($2::text[]) u returning id`,
      [WESTMINSTER.council, urls]
    )
    const logged = ctx.logs.length
    const { reference } = await report(ctx, WESTMINSTER)

    // every event has had its attempts, which would have connected
    const settled = []
    for (const sub of subs) settled.push(...(await waitSettled(ctx, sub.id, reference, ['case.routed'])))
    expect(trap.connections).toBe(connectionsBefore)
    expect(settled).toEqual(subs.map(() => expect.objectContaining({ state: 'dead', attempts: 1 })))

    const letters = (await api(ctx, key, 'GET', '/v1/webhooks/dead-letters?limit=500')).json() as Array<{ subscription_id: number; last_status: number | null; last_error: string }>
    const mine = letters.filter((l) => subs.some((s) => s.id === l.subscription_id))
    expect(mine).toHaveLength(subs.length)
    for (const letter of mine) expect(letter).toMatchObject({ last_status: null, last_error: 'refused: the address is not public' })
    // operators' logs say which, by subscription; never the URL
    const deadLines = ctx.logs.slice(logged).filter((l) => l.includes('webhook event dead-lettered'))
    expect(deadLines.length).toBeGreaterThanOrEqual(subs.length)
    expect(deadLines.some((l) => l.includes(`:${trap.port}`))).toBe(false)

    await ctx.query('delete from webhook_subscriptions where id = any($1::bigint[])', [subs.map((s) => s.id)])
  })

  it('shows a dead letter recorded with a raw error before this change in the same few words', async () => {
    const [sub] = await ctx.query<{ id: number }>(
      `insert into webhook_subscriptions (council_gss, url, secret, events) values ($1, 'https://backoffice.example.gov.uk/hooks', 'whsec_dGVzdA==', array['case.updated']) returning id`,
      [WESTMINSTER.council]
    )
    const [c] = await ctx.query<{ id: number }>('select id from cases order by id limit 1')
    const raw = ['request failed: ECONNREFUSED', 'request failed: no answer within 10000 ms', 'request failed: connect ECONNREFUSED 10.0.0.1:6379', 'request failed: EHOSTUNREACH']
    await ctx.query(
      `insert into webhook_events (subscription_id, case_id, type, payload, state, attempts, last_error)
       select $1, $2, 'case.updated', '{}', 'dead', 8, e from unnest($3::text[]) with ordinality as t(e, n) order by n`,
      [sub!.id, c!.id, raw]
    )
    expect(await eventsFor(ctx, sub!.id)).toHaveLength(raw.length)
    const letters = (await api(ctx, key, 'GET', '/v1/webhooks/dead-letters?limit=500')).json() as Array<{ subscription_id: number; last_error: string }>
    const shown = letters.filter((l) => l.subscription_id === sub!.id).map((l) => l.last_error)
    expect(shown.sort()).toEqual(['connection refused', 'network unreachable', 'request failed', 'timed out'])
    await ctx.query('delete from webhook_subscriptions where id = $1', [sub!.id])
  })
})

describe("an operator's webhook destination at an address that is not public", () => {
  it('is never connected to: the delivery is dead-lettered at once, for an operator to fix or allow', async () => {
    await useWebhookDestination(ctx, { council: WESTMINSTER.council, service: 'missed_bin', url: `https://[::ffff:127.0.0.1]:${trap.port}/hooks`, secret: 'whsec_dGVzdA==' })
    const res = await postContact(ctx, { name: 'Trap Resident', email: 'trap@example.com', postcode: 'SW1A 1AA', service_code: 'missed_bin', description: 'Bin not collected' })
    expect(res.statusCode, res.body).toBe(202)
    const delivery = await waitDelivery(ctx, (res.json() as { reference: string }).reference, ['delivered', 'dead'])
    expect(trap.connections).toBe(connectionsBefore)
    expect(delivery).toMatchObject({ state: 'dead', attempts: 1, last_status: null, last_error: 'refused: the address is not public' })
  })
})
