import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { expect } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { createApiKey, type ApiKeyScope } from '../../src/councils/api-keys.js'
import { verifyWebhook } from '../../src/delivery/signature.js'
import { postContact, waitFor, type TestContext } from '../helpers/context.js'
import * as gss from '../helpers/councils.js'
import type { ReceivedRequest } from '../helpers/delivery.js'

/** Places that route without doubt, by council. */
export const WESTMINSTER = { council: gss.WESTMINSTER, postcode: 'SW1A 1AA', service_code: 'council_tax' }
export const HINCKLEY = { council: gss.HINCKLEY, postcode: 'LE10 0FR', service_code: 'missed_bin' }
export const BRENT = { council: gss.BRENT, postcode: 'HA9 0FJ', service_code: 'missed_bin' }
export type Place = typeof WESTMINSTER

/** A council key, as the operator CLI makes one. */
export async function councilKey(ctx: TestContext, owner: { council?: string; partnership?: string }, scopes: ApiKeyScope[] = ['read', 'write']): Promise<string> {
  return (await createApiKey(ctx.infra.db, owner, scopes)).key
}

/** A call to the webhook API with a key (null: none). */
export function api(ctx: TestContext, key: string | null, method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) {
  return ctx.app.inject({
    method,
    url,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) })
  })
}

export interface CreatedSubscription {
  id: number
  url: string
  events: string[]
  council: string
  secret: string
}

export async function subscribe(ctx: TestContext, key: string, body: Record<string, unknown>): Promise<CreatedSubscription> {
  const res = await api(ctx, key, 'POST', '/v1/webhooks', body)
  expect(res.statusCode, res.body).toBe(201)
  return res.json() as CreatedSubscription
}

/** A resident reports a problem at `place`; returns the case reference and the resident's email. */
export async function report(ctx: TestContext, place: Place) {
  const email = `resident.${randomUUID().slice(0, 8)}@example.com`
  const res = await postContact(ctx, { name: 'Webhook Resident', email, postcode: place.postcode, service_code: place.service_code, description: 'Reported to test council webhooks' })
  expect(res.statusCode, res.body).toBe(202)
  return { reference: (res.json() as { reference: string }).reference, email }
}

export interface EventRow {
  id: number
  event_id: string
  type: string
  state: 'pending' | 'delivered' | 'dead'
  attempts: number
  reference: string
}

/** The events fanned out to one subscription, oldest first. */
export function eventsFor(ctx: TestContext, subscriptionId: number): Promise<EventRow[]> {
  return ctx.query<EventRow>(
    `select e.id, e.event_id, e.type, e.state, e.attempts, c.reference from webhook_events e join cases c on c.id = e.case_id
      where e.subscription_id = $1 order by e.id`,
    [subscriptionId]
  )
}

/** Waits until the subscription has events of all `types` for the case and none is pending. */
export function waitSettled(ctx: TestContext, subscriptionId: number, reference: string, types: string[], timeoutMs = 20_000) {
  return waitFor(
    async () => {
      const events = await eventsFor(ctx, subscriptionId)
      const mine = events.filter((e) => e.reference === reference)
      const complete = types.every((t) => mine.some((e) => e.type === t))
      return complete && events.every((e) => e.state !== 'pending') ? events : null
    },
    timeoutMs,
    `events ${types.join(', ')} of ${reference} to settle`
  )
}

/**
 * What a council's receiver does with each request: verify it with the Standard Webhooks
 * library and with our own signature header, both keyed by the subscription's secret.
 */
export function expectSigned(req: Pick<ReceivedRequest, 'headers' | 'body'>, secret: string) {
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]))
  const verified = new Webhook(secret).verify(req.body, headers) as { id: string }
  expect(verified.id).toBe(headers['webhook-id'])
  expect(verifyWebhook(secret, headers['x-switchboard-timestamp']!, req.body, headers['x-switchboard-signature']!)).toBe(true)
  expect(headers['x-switchboard-delivery']).toBe(headers['webhook-id'])
  return verified
}

/** Event ids a receiver accepted (answered 2xx), with how many times each. */
export function acceptedIds(requests: ReceivedRequest[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const r of requests) {
    if (r.answered < 200 || r.answered >= 300) continue
    const id = String(r.headers['webhook-id'])
    out.set(id, (out.get(id) ?? 0) + 1)
  }
  return out
}

/** A listener that records every TCP connection made to it, and answers none. */
export interface Trap {
  port: number
  /** connections made so far, from anywhere */
  connections: number
  close(): Promise<void>
}

/**
 * Something an attacker would like us to reach (Redis, Postgres, a metadata service): a
 * real listener on 127.0.0.1 and, where the machine has IPv6, on ::1 at the same port, that
 * counts connections. A test that never connects leaves the count at 0.
 */
export async function startTrap(): Promise<Trap> {
  const servers: Server[] = []
  const trap: Trap = {
    port: 0,
    connections: 0,
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    }
  }
  const listen = async (host: string, port: number) => {
    const server = createServer((socket) => {
      trap.connections++
      socket.destroy()
    })
    server.listen(port, host)
    await once(server, 'listening')
    servers.push(server)
    return (server.address() as AddressInfo).port
  }
  trap.port = await listen('127.0.0.1', 0)
  await listen('::1', trap.port).catch(() => undefined)
  return trap
}
