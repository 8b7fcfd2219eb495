/**
 * The agents' desks for the bench (phase w): what `agents` open desks cost web intake. A desk
 * open is what the desk page does when an agent arrives (src/desk): its WebSocket on
 * /v1/agent/stream?batch=1, then its first load: GET /v1/agent/me, /v1/agent/mine and
 * /v1/agent/queue. The desks stay open, receiving every live event of their partnership,
 * while intake is measured; intake is measured without them just before and just after.
 *
 * The desks run on a thread of their own: in one event loop with the load generator, their
 * frames would slow the generator down and be counted as the app's cost. They arrive 20 at
 * a time, as a shift logging in, not 200 in the same millisecond.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import WebSocket from 'ws'

export interface DeskFigures {
  agents: number
  connected: number
  /** open to first load done, per desk */
  openP50: number
  openP99: number
  /** frames of live events (each an array of events) received by all desks while intake was measured with them open */
  eventsReceived: number
}

export interface OpenDesks {
  figures: DeskFigures
  /** frames received so far (every desk counted) */
  received(): Promise<number>
  close(): Promise<void>
}

const AT_ONCE = 20

type Base = { http: string; ws: string }
type ToThread = { type: 'count' } | { type: 'close' }
type FromThread = { type: 'opened'; figures: DeskFigures } | { type: 'count'; received: number } | { type: 'closed' }

/** Opens one desk per token on a thread of its own; resolves once each has its first load. */
export async function openDesks(base: Base, tokens: string[]): Promise<OpenDesks> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { base, tokens } })
  const next = () => new Promise<FromThread>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const opened = await next()
  if (opened.type !== 'opened') throw new Error('the desks thread did not open its desks')
  return {
    figures: opened.figures,
    async received() {
      worker.postMessage({ type: 'count' } satisfies ToThread)
      const m = await next()
      return m.type === 'count' ? m.received : 0
    },
    async close() {
      worker.postMessage({ type: 'close' } satisfies ToThread)
      await next()
      await worker.terminate()
    }
  }
}

async function runDesks(base: Base, tokens: string[]): Promise<void> {
  let received = 0
  const times: number[] = []
  const sockets: WebSocket[] = []
  let connected = 0
  const openOne = async (token: string) => {
    const started = performance.now()
    const ws = await new Promise<WebSocket | null>((resolve) => {
      const socket = new WebSocket(`${base.ws}/v1/agent/stream?batch=1`, { headers: { authorization: `Bearer ${token}` } })
      socket.on('message', () => received++)
      socket.once('open', () => resolve(socket))
      socket.once('error', () => resolve(null))
    })
    if (!ws) return
    sockets.push(ws)
    ws.send(JSON.stringify({ type: 'heartbeat', presence: 'online' }))
    const headers = { authorization: `Bearer ${token}` }
    const loads = await Promise.all(['/v1/agent/me', '/v1/agent/mine', '/v1/agent/queue'].map((path) => fetch(`${base.http}${path}`, { headers }).then(async (r) => (await r.arrayBuffer(), r.ok))))
    times.push(performance.now() - started)
    if (loads.every(Boolean)) connected++
  }
  for (let i = 0; i < tokens.length; i += AT_ONCE) await Promise.all(tokens.slice(i, i + AT_ONCE).map(openOne))
  times.sort((a, b) => a - b)
  const pct = (q: number) => (times.length ? Math.round(times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!) : 0)
  const port = parentPort!
  port.postMessage({ type: 'opened', figures: { agents: tokens.length, connected, openP50: pct(0.5), openP99: pct(0.99), eventsReceived: 0 } } satisfies FromThread)
  port.on('message', (m: ToThread) => {
    if (m.type === 'count') port.postMessage({ type: 'count', received } satisfies FromThread)
    else {
      for (const s of sockets) s.terminate()
      port.postMessage({ type: 'closed' } satisfies FromThread)
    }
  })
}

if (!isMainThread && (workerData as { tokens?: string[] } | null)?.tokens) {
  const { base, tokens } = workerData as { base: Base; tokens: string[] }
  void runDesks(base, tokens)
}
