import { once } from 'node:events'
import type { LookupAddress } from 'node:dns'
import { createServer, type AddressInfo, type Server } from 'node:net'
import type { Transporter } from 'nodemailer'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config.js'
import { sendToDestination } from '../../src/delivery/deliver-case.js'
import { assertDestinationsUsable } from '../../src/delivery/destination-policy.js'
import { createOutboundClient, REFUSED_NOT_PUBLIC, type Resolve } from '../../src/delivery/safe-fetch.js'
import { postJson } from '../../src/delivery/webhook.js'
import { AddressPolicy } from '../../src/lib/public-address.js'
import { sendWebhookEvent } from '../../src/webhooks/send-event.js'
import { createTestContext, postContact, type TestContext } from '../helpers/context.js'
import { repointWebhook, reservePort, startReceiver, useWebhookDestination, type Receiver } from '../helpers/delivery.js'
import { api, councilKey, startTrap, WESTMINSTER, type Trap } from '../webhooks/webhooks-helpers.js'

const NONE = new AddressPolicy('none')
const LOOPBACK = new AddressPolicy('127.0.0.0/8,::1/128')

/** DNS as a test says it is: each name's answers, and every name asked for. */
function fakeDns(answers: Record<string, string[]>) {
  const asked: string[] = []
  const resolve: Resolve = (hostname, _options, callback) => {
    asked.push(hostname)
    const addresses = answers[hostname]
    if (!addresses) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])
    callback(null, addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })))
  }
  return { resolve, asked }
}

let ctx: TestContext
let trap: Trap
// connections to the trap before each test: a test adds none
let connectionsBefore = 0
const closers: Array<() => Promise<void>> = []
beforeAll(async () => {
  ctx = await createTestContext({ WEBHOOK_ALLOW_PRIVATE_CIDRS: 'none' })
  trap = await startTrap()
})
beforeEach(() => {
  connectionsBefore = trap.connections
})
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})
afterAll(async () => {
  await trap?.close()
  await ctx?.close()
})

describe('the address check at connect time', () => {
  it('refuses a name that resolves to this machine when the event is sent, though it was accepted at subscription', async () => {
    const key = await councilKey(ctx, { council: WESTMINSTER.council })
    const url = `https://backoffice.rebind.example:${trap.port}/hooks`
    // a name, not an address: nothing to refuse yet (its DNS may change at any time anyway)
    const subscribed = await api(ctx, key, 'POST', '/v1/webhooks', { url, events: ['case.created'] })
    expect(subscribed.statusCode, subscribed.body).toBe(201)

    // a case for the council fans out a case.created event; no workers run here, so it waits for us
    const reported = await postContact(ctx, { name: 'Rebind Resident', email: 'rebind@example.com', postcode: 'SW1A 1AA', council: WESTMINSTER.council, description: 'Bin not collected' })
    expect(reported.statusCode, reported.body).toBe(202)
    const [event] = await ctx.query<{ id: number; outbox_id: number }>(
      `select e.id, o.id as outbox_id from webhook_events e join outbox o on o.topic = 'webhook:send' and (o.payload->>'webhook_event_id')::bigint = e.id
        where e.subscription_id = $1`,
      [(subscribed.json() as { id: number }).id]
    )
    expect(event).toBeDefined()

    // now the name answers 127.0.0.1
    const dns = fakeDns({ 'backoffice.rebind.example': ['127.0.0.1'] })
    const settings = { maxAttempts: 3, timeoutMs: 2_000, production: false, outbound: createOutboundClient(NONE, { resolve: dns.resolve }) }
    await expect(sendWebhookEvent({ db: ctx.infra.db, log: ctx.infra.log, settings }, { webhookEventId: event!.id, outboxId: event!.outbox_id })).rejects.toThrow(/dead-lettered/)
    expect(dns.asked).toEqual(['backoffice.rebind.example'])
    expect(trap.connections).toBe(connectionsBefore)
    const [row] = await ctx.query<{ state: string; attempts: number; last_status: number | null; last_error: string }>('select state, attempts, last_status, last_error from webhook_events where id = $1', [event!.id])
    expect(row).toEqual({ state: 'dead', attempts: 1, last_status: null, last_error: REFUSED_NOT_PUBLIC })
  })

  it('refuses localhost as the system resolver answers it (/etc/hosts), at connect time', async () => {
    const result = await postJson(createOutboundClient(NONE), `https://localhost:${trap.port}/hooks`, {}, '{}', 2_000)
    expect(result).toMatchObject({ ok: false, permanent: true, status: null, detail: REFUSED_NOT_PUBLIC })
    expect(trap.connections).toBe(connectionsBefore)
  })

  it.each([
    ['a private address', ['10.0.0.1']],
    ['the cloud metadata service', ['169.254.169.254']],
    ['an IPv4-mapped loopback address', ['::ffff:127.0.0.1']],
    ['a unique-local address', ['fd00::1']],
    ['one public address and one loopback address', ['93.184.215.14', '127.0.0.1']]
  ])('refuses a name that resolves to %s, before connecting', async (_what, addresses) => {
    const dns = fakeDns({ 'metadata.google.internal': addresses })
    const client = createOutboundClient(NONE, { resolve: dns.resolve })
    const result = await postJson(client, `https://metadata.google.internal:${trap.port}/computeMetadata/v1/`, {}, '{}', 2_000)
    expect(result).toMatchObject({ ok: false, permanent: true, status: null, detail: REFUSED_NOT_PUBLIC })
    expect(result.cause).toMatch(/^ERR_ADDRESS_NOT_PUBLIC/)
    expect(dns.asked).toEqual(['metadata.google.internal'])
    expect(trap.connections).toBe(connectionsBefore)
  })

  it.each(['127.0.0.1', '[::1]', '[::ffff:7f00:1]', '0.0.0.0'])('refuses the address %s given in the URL itself, where no name is resolved', async (host) => {
    const dns = fakeDns({})
    const result = await postJson(createOutboundClient(NONE, { resolve: dns.resolve }), `http://${host}:${trap.port}/hooks`, {}, '{}', 2_000)
    expect(result).toMatchObject({ ok: false, permanent: true, detail: REFUSED_NOT_PUBLIC })
    expect(dns.asked).toEqual([])
    expect(trap.connections).toBe(connectionsBefore)
  })

  it('reaches the same name when the operator allows its range, at the address it resolved to', async () => {
    const receiver = await startReceiver(() => 204)
    closers.push(() => receiver.close())
    const dns = fakeDns({ 'backoffice.council.internal': ['127.0.0.1'] })
    const result = await postJson(createOutboundClient(LOOPBACK, { resolve: dns.resolve }), `http://backoffice.council.internal:${receiver.port}/hooks`, {}, '{"ok":true}', 2_000)
    expect(result).toMatchObject({ ok: true, status: 204 })
    expect(receiver.requests).toHaveLength(1)
    expect(receiver.requests[0]!.headers.host).toBe(`backoffice.council.internal:${receiver.port}`)
  })

  it("refuses an operator's webhook destination that resolves to this machine", async () => {
    const dns = fakeDns({ 'backoffice.council.example': ['127.0.0.1'] })
    const settings = { maxAttempts: 3, timeoutMs: 2_000, mailFrom: 'x@example.com', production: false, outbound: createOutboundClient(NONE, { resolve: dns.resolve }) }
    const target = { kind: 'webhook', webhook_url: `https://backoffice.council.example:${trap.port}/hooks`, webhook_secret: 'whsec_dGVzdA==', team_email: null }
    // the mail transport is not touched for a webhook
    const result = await sendToDestination({ mail: {} as Transporter, settings }, target, { id: 'd1', reference: 'SB-TEST', json: () => ({}), mail: () => ({ subject: '', text: '' }) })
    expect(result).toMatchObject({ ok: false, permanent: true, detail: REFUSED_NOT_PUBLIC })
    expect(dns.asked).toEqual(['backoffice.council.example'])
    expect(trap.connections).toBe(connectionsBefore)
  })
})

describe('starting in production with a webhook destination', () => {
  it('stops, naming the destination and WEBHOOK_ALLOW_PRIVATE_CIDRS, when its address is not public; never printing the URL', async () => {
    const production = { NODE_ENV: 'production' as const, SMTP_URL: 'smtp://127.0.0.1:1' }
    const id = await useWebhookDestination(ctx, { council: WESTMINSTER.council, service: 'pothole', url: 'https://10.0.0.5/hooks/0a1b2c', secret: 'whsec_dGVzdA==' })
    const refused = await assertDestinationsUsable(ctx.infra.db, { ...production, WEBHOOK_ALLOW_PRIVATE_CIDRS: 'none' }).catch((err: Error) => err)
    expect(refused).toBeInstanceOf(ConfigError)
    expect((refused as Error).message).toMatch(new RegExp(`^destination ${id} .*not public.*WEBHOOK_ALLOW_PRIVATE_CIDRS`))
    expect((refused as Error).message).not.toContain('0a1b2c')
    // a council on the operator's private network
    await expect(assertDestinationsUsable(ctx.infra.db, { ...production, WEBHOOK_ALLOW_PRIVATE_CIDRS: '10.0.0.0/8' })).resolves.toBeUndefined()

    await repointWebhook(ctx, id, 'https://hooks:Pa55word@backoffice.council.example/hooks')
    const withPassword = await assertDestinationsUsable(ctx.infra.db, { ...production, WEBHOOK_ALLOW_PRIVATE_CIDRS: 'none' }).catch((err: Error) => err)
    expect((withPassword as Error).message).toContain('must not carry a user name or password')
    expect((withPassword as Error).message).not.toContain('Pa55word')
    await ctx.query('update destinations set active = false where id = $1', [id])
  })
})

/** A listener that does something other than answer: holds the connection, or drops it. */
async function misbehaving(onConnection: (socket: import('node:net').Socket) => void): Promise<number> {
  const server: Server = createServer(onConnection)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  closers.push(async () => {
    server.close()
  })
  return (server.address() as AddressInfo).port
}

describe('what a failed attempt is called', () => {
  const loopback = createOutboundClient(LOOPBACK)

  it('in a few words of ours, with the raw error kept for the log', async () => {
    const closed = await reservePort()
    const silent = await misbehaving(() => undefined)
    const dropping = await misbehaving((socket) => socket.once('data', () => socket.destroy()))
    const unavailable: Receiver = await startReceiver(() => 503)
    closers.push(() => unavailable.close())
    const unresolvable = createOutboundClient(LOOPBACK, { resolve: fakeDns({}).resolve })

    const cases: Array<[Promise<{ detail: string; cause?: string; status: number | null; permanent: boolean }>, string, RegExp | undefined]> = [
      [postJson(loopback, `http://127.0.0.1:${closed}/hooks`, {}, '{}', 2_000), 'connection refused', /ECONNREFUSED/],
      [postJson(loopback, `http://127.0.0.1:${silent}/hooks`, {}, '{}', 300), 'timed out', /TimeoutError/],
      [postJson(loopback, `http://127.0.0.1:${dropping}/hooks`, {}, '{}', 2_000), 'connection reset', /UND_ERR_SOCKET|ECONNRESET/],
      [postJson(unresolvable, 'http://nowhere.example/hooks', {}, '{}', 2_000), 'the name could not be resolved', /ENOTFOUND/],
      [postJson(loopback, unavailable.url, {}, '{}', 2_000), 'HTTP 503', undefined]
    ]
    for (const [attempt, detail, cause] of cases) {
      const result = await attempt
      expect(result.detail).toBe(detail)
      expect(result.permanent).toBe(false)
      if (cause) expect(result.cause).toMatch(cause)
    }
  })
})
