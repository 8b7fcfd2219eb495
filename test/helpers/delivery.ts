import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { OPERATOR_KEY, waitFor, type TestContext } from './context.js'

/** One request a receiver got, and what it answered (0 while it has not answered yet). */
export interface ReceivedRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
  answered: number
}

/** Decides the status for the nth request (0-based); may wait before answering. */
export type Responder = (n: number, req: Omit<ReceivedRequest, 'answered'>) => number | Promise<number>

export interface Receiver {
  port: number
  url: string
  requests: ReceivedRequest[]
  /** resolves with the next request the receiver gets (before it answers) */
  nextRequest(): Promise<Omit<ReceivedRequest, 'answered'>>
  close(): Promise<void>
}

/**
 * A council back office's webhook endpoint: a real HTTP server on 127.0.0.1 that records
 * every request and answers with whatever `respond` says. `port` 0 picks a free one.
 */
export async function startReceiver(respond: Responder, port = 0): Promise<Receiver> {
  const requests: ReceivedRequest[] = []
  const waiting: Array<(r: Omit<ReceivedRequest, 'answered'>) => void> = []
  let count = 0
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      // recorded on arrival; `answered` is 0 until the answer goes out
      const entry: ReceivedRequest = { ...seen, answered: 0 }
      requests.push(entry)
      const n = count++
      for (const w of waiting.splice(0)) w(seen)
      void Promise.resolve(respond(n, seen)).then((status) => {
        entry.answered = status
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ ok: status < 300 }))
      })
    })
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const actual = (server.address() as AddressInfo).port
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}/hooks/switchboard`,
    requests,
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

export { freePort as reservePort } from './processes.js'

/**
 * Makes a council's back office for one service a signed webhook instead of its demo
 * mailbox, as an operator would: the mailbox destination is deactivated, the webhook one
 * added, and the catalogue reloaded so routing picks it. Returns the destination id.
 */
export async function useWebhookDestination(
  ctx: Pick<TestContext, 'query' | 'infra'>,
  opts: { council: string; service: string; url: string; secret: string; team?: string }
): Promise<number> {
  await ctx.query('update destinations set active = false where council_gss = $1 and service_code is not distinct from $2 and active', [opts.council, opts.service])
  const [row] = await ctx.query<{ id: number }>(
    `insert into destinations (council_gss, service_code, team, kind, webhook_url, webhook_secret, sla_hours)
     values ($1, $2, $3, 'webhook', $4, $5, 48) returning id`,
    [opts.council, opts.service, opts.team ?? 'Back office', opts.url, opts.secret]
  )
  await ctx.infra.catalogue.load()
  return row!.id
}

/**
 * Makes one signed webhook a council's back office for every service (its other destinations
 * deactivated), and subscribes its own system to case events, as an operator would.
 */
export async function useCouncilWebhooks(
  ctx: Pick<TestContext, 'query' | 'infra'>,
  council: string,
  opts: { destination: { url: string; secret: string }; subscription: { url: string; secret: string } }
): Promise<void> {
  await ctx.query('update destinations set active = false where council_gss = $1', [council])
  await ctx.query(
    `insert into destinations (council_gss, service_code, team, kind, webhook_url, webhook_secret, sla_hours) values ($1, null, 'Customer services', 'webhook', $2, $3, 48)`,
    [council, opts.destination.url, opts.destination.secret]
  )
  await ctx.query(`insert into webhook_subscriptions (council_gss, url, secret, events) values ($1, $2, $3, '{case.created,case.routed}')`, [
    council,
    opts.subscription.url,
    opts.subscription.secret
  ])
  await ctx.infra.catalogue.load()
}

/** Points an existing webhook destination at another URL (read afresh on every attempt). */
export async function repointWebhook(ctx: Pick<TestContext, 'query'>, destinationId: number, url: string): Promise<void> {
  await ctx.query('update destinations set webhook_url = $2 where id = $1', [destinationId, url])
}

export interface DeliveryState {
  id: number
  public_id: string
  state: 'pending' | 'retrying' | 'delivered' | 'dead'
  kind: string
  attempts: number
  last_status: number | null
  last_error: string | null
}

/** The case's delivery row, once routing has created it. */
export async function deliveryOf(ctx: Pick<TestContext, 'query'>, reference: string): Promise<DeliveryState | undefined> {
  const rows = await ctx.query<DeliveryState>(
    `select d.id, d.public_id, d.state, d.kind, d.attempts, d.last_status, d.last_error
       from deliveries d join cases c on c.id = d.case_id where c.reference = $1`,
    [reference]
  )
  return rows[0]
}

/** Waits until the case's delivery is in one of `states`. */
export function waitDelivery(ctx: Pick<TestContext, 'query'>, reference: string, states: DeliveryState['state'][], timeoutMs = 15_000) {
  return waitFor(async () => {
    const d = await deliveryOf(ctx, reference)
    return d && states.includes(d.state) ? d : null
  }, timeoutMs, `delivery of ${reference} to be ${states.join(' or ')}`)
}

/** An operator call to an admin route; `key` null sends no Authorization header. */
export function adminRequest(ctx: TestContext, method: 'GET' | 'POST', url: string, key: string | null = OPERATOR_KEY) {
  return ctx.app.inject({ method, url, headers: key === null ? {} : { authorization: `Bearer ${key}` } })
}

/**
 * Waits until no delivery work is left anywhere: no pending case:deliver outbox row, and no
 * delivery job waiting, delayed (a retry scheduled) or running. After that, an attempt that
 * has not happened will not happen: the test can say so without guessing a time to wait.
 */
export async function deliveriesSettled(ctx: Pick<TestContext, 'query' | 'infra'>, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    async () => {
      const pending = await ctx.query(`select 1 from outbox where topic = 'case:deliver' and done_at is null limit 1`)
      if (pending.length) return false
      const counts = await ctx.infra.queues['case:deliver'].getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'waiting-children')
      return Object.values(counts).every((n) => n === 0)
    },
    timeoutMs,
    'delivery work to be finished'
  )
}
