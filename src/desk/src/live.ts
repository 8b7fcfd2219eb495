/** The desk's end of GET /v1/agent/stream: live events in, heartbeats and "viewing"/"replying" out. */

export interface LiveEvent {
  type: string
  event_id: number
  at: string
  agent_id?: number
  case: { reference: string; work_status: string; assigned_agent_id: number | null; priority: string }
  detail?: Record<string, unknown>
}

export type Presence = 'online' | 'away'

const HEARTBEAT_MS = 30_000
// close codes the server uses (src/routes/agents/stream.ts): the token is over, log in again
const UNAUTHORISED = 4401

export interface Live {
  say(msg: { type: 'heartbeat'; presence: Presence } | { type: 'viewing' | 'replying' | 'left'; reference: string }): void
  setPresence(p: Presence): void
  close(): void
}

/**
 * Opens the stream and keeps it open: reconnects after a drop (1 s, doubling to 30 s), and
 * says the agent's presence every 30 s and at once when it changes. On reconnecting, the
 * caller is told (`onOpen`), so it can reload what it shows: events missed meanwhile are
 * not replayed.
 */
export function connectLive(token: string, handlers: { onEvent(e: LiveEvent): void; onOpen(): void; onState(connected: boolean): void; onUnauthorised(): void }): Live {
  let socket: WebSocket | null = null
  let presence: Presence = 'online'
  let closed = false
  let backoff = 1_000
  let timer: ReturnType<typeof setInterval> | undefined
  // batch=1: the events of a moment come as one JSON array (fewer frames under a burst)
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/agent/stream?batch=1&token=${encodeURIComponent(token)}`

  const send = (msg: unknown) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg))
  }
  const open = () => {
    if (closed) return
    const ws = new WebSocket(url)
    socket = ws
    ws.onopen = () => {
      backoff = 1_000
      handlers.onState(true)
      send({ type: 'heartbeat', presence })
      handlers.onOpen()
    }
    ws.onmessage = (m) => {
      let data: LiveEvent | LiveEvent[]
      try {
        data = JSON.parse(String(m.data)) as LiveEvent | LiveEvent[]
      } catch {
        return // not an event: ignore
      }
      for (const e of Array.isArray(data) ? data : [data]) handlers.onEvent(e)
    }
    ws.onclose = (c) => {
      if (socket !== ws) return
      socket = null
      handlers.onState(false)
      if (closed) return
      if (c.code === UNAUTHORISED) return handlers.onUnauthorised()
      setTimeout(open, backoff)
      backoff = Math.min(backoff * 2, 30_000)
    }
  }
  open()
  timer = setInterval(() => send({ type: 'heartbeat', presence }), HEARTBEAT_MS)
  return {
    say: send,
    setPresence(p) {
      presence = p
      send({ type: 'heartbeat', presence })
    },
    close() {
      closed = true
      clearInterval(timer)
      socket?.close(1000)
    }
  }
}
