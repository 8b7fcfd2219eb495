/**
 * The agents' desks for the bench (phase w): what `agents` open desks cost web intake. A desk
 * open is what the desk page does when an agent arrives (src/desk): its WebSocket on
 * /v1/agent/stream, then its first load: GET /v1/agent/me, /v1/agent/mine and
 * /v1/agent/queue. The desks stay open, receiving every live event of their partnership,
 * while intake is measured; intake is measured without them just before and just after.
 */
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
  /** live events received so far (every desk counted) */
  received(): number
  close(): void
}

/** Opens one desk per token, all at once, as a morning shift logging in; resolves once each has its first load. */
export async function openDesks(base: { http: string; ws: string }, tokens: string[]): Promise<OpenDesks> {
  let received = 0
  const times: number[] = []
  const sockets: WebSocket[] = []
  const opened = await Promise.all(
    tokens.map(async (token) => {
      const started = performance.now()
      const ws = await new Promise<WebSocket | null>((resolve) => {
        // batched frames, as the desk page asks for them
        const socket = new WebSocket(`${base.ws}/v1/agent/stream?batch=1`, { headers: { authorization: `Bearer ${token}` } })
        socket.on('message', () => received++)
        socket.once('open', () => resolve(socket))
        socket.once('error', () => resolve(null))
      })
      if (!ws) return false
      sockets.push(ws)
      ws.send(JSON.stringify({ type: 'heartbeat', presence: 'online' }))
      const headers = { authorization: `Bearer ${token}` }
      const loads = await Promise.all(['/v1/agent/me', '/v1/agent/mine', '/v1/agent/queue'].map((path) => fetch(`${base.http}${path}`, { headers }).then(async (r) => (await r.arrayBuffer(), r.ok))))
      times.push(performance.now() - started)
      return loads.every(Boolean)
    })
  )
  times.sort((a, b) => a - b)
  const pct = (q: number) => (times.length ? Math.round(times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!) : 0)
  return {
    figures: { agents: tokens.length, connected: opened.filter(Boolean).length, openP50: pct(0.5), openP99: pct(0.99), eventsReceived: 0 },
    received: () => received,
    close() {
      for (const s of sockets) s.terminate()
    }
  }
}
