/**
 * The agents' live view under load for the bench: `agents` WebSocket connections to
 * /v1/agent/stream (all of one partnership, so every one of them receives every event),
 * then contacts that partnership's councils receive, paced; each event's delay is the time
 * from the case event's own timestamp (written by Postgres on this machine) to its arrival
 * at each agent.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'

export interface LiveFigures {
  agents: number
  connected: number
  events: number
  deliveries: number
  p50: number
  p99: number
  max: number
  /** deliveries expected (events × agents) that never came */
  missing: number
}

export async function liveAgents(opts: {
  url: string
  tokens: string[]
  /** sends one contact; the events it causes are counted */
  contact: () => Promise<void>
  contacts: number
  perSecond: number
  /** after the last contact, how long to wait for stragglers */
  settleMs: number
}): Promise<LiveFigures> {
  const delays: number[] = []
  const seen = new Map<string, number>()
  const sockets = await Promise.all(
    opts.tokens.map(
      (token) =>
        new Promise<WebSocket | null>((resolve) => {
          const ws = new WebSocket(`${opts.url}/v1/agent/stream`, { headers: { authorization: `Bearer ${token}` } })
          ws.on('message', (data) => {
            const e = JSON.parse(String(data)) as { type: string; event_id: number; at: string }
            if (!e.event_id) return // presence, viewers
            delays.push(Date.now() - Date.parse(e.at))
            const key = `${e.type}:${e.event_id}`
            seen.set(key, (seen.get(key) ?? 0) + 1)
          })
          ws.once('open', () => resolve(ws))
          ws.once('error', () => resolve(null))
        })
    )
  )
  const open = sockets.filter((s): s is WebSocket => s !== null)
  await sleep(500) // presence announcements settle
  delays.length = 0
  seen.clear()
  for (let i = 0; i < opts.contacts; i++) {
    await opts.contact()
    await sleep(1000 / opts.perSecond)
  }
  await sleep(opts.settleMs)
  for (const s of open) s.terminate()
  delays.sort((a, b) => a - b)
  const pct = (q: number) => (delays.length ? delays[Math.min(delays.length - 1, Math.ceil(q * delays.length) - 1)]! : 0)
  const deliveries = delays.length
  return {
    agents: opts.tokens.length,
    connected: open.length,
    events: seen.size,
    deliveries,
    p50: pct(0.5),
    p99: pct(0.99),
    max: delays[delays.length - 1] ?? 0,
    missing: seen.size * open.length - deliveries
  }
}
