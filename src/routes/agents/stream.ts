import websocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { announceActivity, setPresence, type Presence } from '../../agents/presence.js'
import type { AgentSessions } from '../../agents/sessions.js'
import type { VerifiedAgent } from '../../agents/tokens.js'
import { requireAgent } from '../../plugins/agent-auth.js'
import type { LiveEvent, LiveHub } from '../../realtime/hub.js'
import { socketBudget } from '../../realtime/socket-budget.js'
import { liveSender } from '../../realtime/live-sender.js'

/** Bytes an agent's socket may hold unsent before it is cut off: a slow client must not slow others. */
const MAX_BUFFERED_BYTES = 1_048_576
/**
 * Close codes: 4000 no heartbeat; 4008 too slow to keep up (reconnect and reload); 4401 the
 * token expired or the agent was disabled (log in again); 4429 too many messages from this
 * socket, or too many sockets of this agent (AGENT_MAX_SOCKETS on one process).
 */
export const CLOSE = { silent: 4000, tooSlow: 4008, unauthorized: 4401, tooMany: 4429 } as const
const PING_EVERY_MS = 30_000
/**
 * Presence or activity the same as this socket last said is written and announced again only
 * this long after: often enough that presence_at stays within ONLINE_WITHIN_SECONDS (90 s).
 */
const REPEAT_AFTER_MS = 30_000
const ACTIVITIES = new Set(['viewing', 'replying', 'left'])

type ClientMessage = { type: 'heartbeat'; presence?: 'online' | 'away' } | { type: 'viewing' | 'replying' | 'left'; reference: string }

/**
 * GET /v1/agent/stream (WebSocket; the agent's token as `Authorization: Bearer` or `?token=`).
 * The agent receives, as JSON, every live event of their partnership's cases (each a frame
 * of its own, or with `?batch=1` the events of a moment together as one JSON array) (case.created,
 * case.routed, case.assigned, message.created, case.updated, sla.warning, sla.breached),
 * presence changes of their colleagues, and who is viewing or replying to which case;
 * nothing of another partnership's. They send `{ "type": "heartbeat", "presence": "online" |
 * "away" }` (at least every minute) and `{ "type": "viewing" | "replying" | "left",
 * "reference": "SB-…" }`, a burst of 20 at most and then 2 a second (socketBudget); a
 * heartbeat or activity that changes nothing writes and announces nothing. Events come
 * through Redis from every API process (LiveHub). Closed (CLOSE) when the token expires or the
 * agent is disabled (within AGENT_REVOCATION_S), when it cannot keep up, stops answering
 * pings, or floods; AGENT_MAX_SOCKETS sockets per agent on one process, counted here rather
 * than in Redis so a process that dies leaves no count behind.
 *
 * Nothing here records a read (docs/data-protection.md, the read log): a live event carries
 * a case's reference, council, statuses, priority, assignee and SLA time (LiveEvent in
 * src/realtime/hub.ts), presence and "viewing" carry agent ids, and none carries a
 * resident's name, contact, words or place. What an agent then opens comes through the
 * REST routes, which record it. Should LiveEvent ever carry personal data, `forward` must
 * record each event's case before sending it.
 */
export async function agentStreamRoutes(fastify: FastifyInstance, opts: { tokens: AgentSessions; hub: LiveHub }) {
  const { db, config } = fastify
  const { hub, tokens: sessions } = opts
  await fastify.register(websocket, { options: { maxPayload: 16_384 } })
  /** this process's sockets per agent, each with the claims of the token it opened with */
  const live = new Map<number, Map<WebSocket, VerifiedAgent>>()

  /** Closes every socket here whose agent no longer holds its token (disabled, removed, changed). */
  const revokeStale = async (agentIds: number[]) => {
    for (const id of agentIds) {
      for (const [socket, claims] of live.get(id) ?? []) {
        if (!(await sessions.holds(claims))) socket.close(CLOSE.unauthorized, 'session ended (agent disabled or changed): log in again')
      }
    }
  }
  // every AGENT_REVOCATION_S, one read of every connected agent's account; at once when Postgres announces a change
  let sweeping = false
  const sweep = setInterval(() => {
    if (sweeping || !live.size) return
    sweeping = true
    const ids = [...live.keys()]
    void sessions
      .refresh(ids)
      .then(() => revokeStale(ids))
      .catch((err: Error) => fastify.log.warn({ err: { message: err.message } }, 'agent sockets not checked'))
      .finally(() => (sweeping = false))
  }, sessions.revocationMs)
  sweep.unref()
  const onAgentChanged = (agentId: number) => {
    if (!live.has(agentId)) return
    sessions.forget(agentId)
    void revokeStale([agentId]).catch(() => {})
  }
  hub.on('agent-changed', onAgentChanged)
  fastify.addHook('onClose', async () => {
    clearInterval(sweep)
    hub.off('agent-changed', onAgentChanged)
  })

  fastify.get(
    '/v1/agent/stream',
    {
      websocket: true,
      onRequest: requireAgent(sessions),
      schema: { tags: ['agents'], summary: 'Live events for an agent (WebSocket); ?batch=1: the events of a moment as one JSON array', hide: false }
    },
    (socket: WebSocket, req) => {
      const agent = req.agent!
      const log = req.log.child({ agentId: agent.agentId })
      const mine = live.get(agent.agentId) ?? new Map<WebSocket, VerifiedAgent>()
      if (mine.size >= config.AGENT_MAX_SOCKETS) {
        log.warn({ sockets: mine.size }, 'agent socket refused: too many open')
        socket.close(CLOSE.tooMany, 'too many live connections for this agent')
        return
      }
      mine.set(socket, agent)
      live.set(agent.agentId, mine)
      let alive = true
      let closing = false
      const budget = socketBudget()
      const said = { presence: 'online' as Presence, presenceAt: Date.now(), activity: '', activityAt: 0 }
      // what this socket says is written and announced in the order it was said: "viewing"
      // then "replying" must not reach colleagues the other way round
      let said$: Promise<void> = Promise.resolve()
      const inOrder = (fn: () => Promise<void>) => {
        said$ = said$.then(fn).catch(() => {})
      }
      hub.attach()
      inOrder(() => setPresence(db, hub, agent, 'online'))

      const send = liveSender(socket, req.raw.socket, { batch: (req.query as { batch?: string }).batch === '1' })
      const forward = (event: LiveEvent) => {
        if (event.partnership_id !== agent.partnershipId || closing) return
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          log.warn('agent socket too slow to keep up; closed')
          socket.close(CLOSE.tooSlow, 'too slow: reconnect and reload')
          return
        }
        send(event)
      }
      hub.on('event', forward)

      // a token is good until it expires, however long the socket stays open
      const expiry = setTimeout(() => socket.close(CLOSE.unauthorized, 'token expired: log in again'), Math.max(0, agent.expiresAt - Date.now()))
      expiry.unref()
      const ping = setInterval(() => {
        if (!alive) {
          socket.close(CLOSE.silent, 'no heartbeat')
          socket.terminate()
          return
        }
        alive = false
        socket.ping()
      }, PING_EVERY_MS)
      ping.unref()
      socket.on('pong', () => (alive = true))

      socket.on('message', (raw) => {
        if (closing) return
        if (!budget.take()) {
          closing = true
          log.warn('agent socket sent too many messages; closed')
          socket.close(CLOSE.tooMany, 'too many messages')
          return
        }
        alive = true
        let msg: ClientMessage
        try {
          msg = JSON.parse(String(raw)) as ClientMessage
        } catch {
          return
        }
        if (typeof msg !== 'object' || msg === null) return
        const now = Date.now()
        if (msg.type === 'heartbeat') {
          const presence = msg.presence === 'away' ? 'away' : 'online'
          if (presence === said.presence && now - said.presenceAt < REPEAT_AFTER_MS) return
          Object.assign(said, { presence, presenceAt: now })
          inOrder(() => setPresence(db, hub, agent, presence))
        } else if (ACTIVITIES.has(msg.type) && typeof msg.reference === 'string') {
          const activity = `${msg.type} ${msg.reference.toUpperCase()}`
          if (activity === said.activity && now - said.activityAt < REPEAT_AFTER_MS) return
          Object.assign(said, { activity, activityAt: now })
          const [type, reference] = [msg.type, msg.reference.toUpperCase()]
          inOrder(() => announceActivity(db, hub, agent, type, reference))
        }
      })

      socket.on('close', () => {
        closing = true
        clearTimeout(expiry)
        clearInterval(ping)
        hub.off('event', forward)
        hub.detach()
        mine.delete(socket)
        if (mine.size) return
        if (live.get(agent.agentId) === mine) live.delete(agent.agentId)
        inOrder(() => setPresence(db, hub, agent, 'offline'))
      })
    }
  )
}
