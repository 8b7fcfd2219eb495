import websocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import type { AgentClaims, AgentTokens } from '../../agents/tokens.js'
import type { Infra } from '../../infra.js'
import { requireAgent } from '../../plugins/agent-auth.js'
import type { LiveEvent, LiveHub } from '../../realtime/hub.js'

/** Bytes an agent's socket may hold unsent before it is cut off: a slow client must not slow others. */
const MAX_BUFFERED_BYTES = 1_048_576
/** Close codes: 4008 too slow to keep up (reconnect and reload), 4000 no heartbeat. */
const CLOSE_TOO_SLOW = 4008
const CLOSE_SILENT = 4000
const PING_EVERY_MS = 30_000
const ACTIVITIES = new Set(['viewing', 'replying', 'left'])

type ClientMessage = { type: 'heartbeat'; presence?: 'online' | 'away' } | { type: 'viewing' | 'replying' | 'left'; reference: string }

/**
 * GET /v1/agent/stream (WebSocket; the agent's token as `Authorization: Bearer` or `?token=`).
 * The agent receives, as JSON, every live event of their partnership's cases (case.created,
 * case.routed, case.assigned, message.created, case.updated, sla.warning, sla.breached),
 * presence changes of their colleagues, and who is viewing or replying to which case;
 * nothing of another partnership's. They send `{ "type": "heartbeat", "presence": "online" |
 * "away" }` (at least every minute) and `{ "type": "viewing" | "replying" | "left",
 * "reference": "SB-…" }`. Events come through Redis from every API process (LiveHub). A
 * client that cannot keep up is closed with 4008; one that stops answering pings, 4000.
 *
 * Nothing here records a read (docs/data-protection.md, the read log): a live event carries
 * a case's reference, council, statuses, priority, assignee and SLA time (LiveEvent in
 * src/realtime/hub.ts), presence and "viewing" carry agent ids, and none carries a
 * resident's name, contact, words or place. What an agent then opens comes through the
 * REST routes, which record it. Should LiveEvent ever carry personal data, `forward` must
 * record each event's case before sending it.
 */
export async function agentStreamRoutes(fastify: FastifyInstance, opts: { infra: Infra; tokens: AgentTokens; hub: LiveHub }) {
  const { db } = opts.infra
  const { hub } = opts
  await fastify.register(websocket, { options: { maxPayload: 16_384 } })
  /** this process's sockets per agent: presence is offline when the last one closes */
  const socketsOf = new Map<number, number>()

  const setPresence = async (agent: AgentClaims, presence: 'online' | 'away' | 'offline') => {
    const { rows } = await db.query<{ changed: boolean }>(
      `update agents set presence = $2, presence_at = now() where id = $1 returning true as changed`,
      [agent.agentId, presence]
    )
    if (rows.length) {
      await hub.announce({ type: 'presence', event_id: 0, at: new Date().toISOString(), partnership_id: agent.partnershipId, agent_id: agent.agentId, detail: { presence }, case: EMPTY_CASE })
    }
  }

  fastify.get(
    '/v1/agent/stream',
    {
      websocket: true,
      onRequest: requireAgent(opts.tokens),
      schema: { tags: ['agents'], summary: 'Live events for an agent (WebSocket)', hide: false }
    },
    (socket: WebSocket, req) => {
      const agent = req.agent!
      const log = req.log.child({ agentId: agent.agentId })
      let alive = true
      socketsOf.set(agent.agentId, (socketsOf.get(agent.agentId) ?? 0) + 1)
      hub.attach()
      void setPresence(agent, 'online').catch(() => {})

      const forward = (event: LiveEvent) => {
        if (event.partnership_id !== agent.partnershipId) return
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          log.warn('agent socket too slow to keep up; closed')
          socket.close(CLOSE_TOO_SLOW, 'too slow: reconnect and reload')
          return
        }
        socket.send(JSON.stringify(event))
      }
      hub.on('event', forward)

      const ping = setInterval(() => {
        if (!alive) {
          socket.close(CLOSE_SILENT, 'no heartbeat')
          socket.terminate()
          return
        }
        alive = false
        socket.ping()
      }, PING_EVERY_MS)
      ping.unref()
      socket.on('pong', () => (alive = true))

      socket.on('message', (raw) => {
        alive = true
        let msg: ClientMessage
        try {
          msg = JSON.parse(String(raw)) as ClientMessage
        } catch {
          return
        }
        if (msg.type === 'heartbeat') {
          void setPresence(agent, msg.presence === 'away' ? 'away' : 'online').catch(() => {})
        } else if (ACTIVITIES.has(msg.type) && typeof msg.reference === 'string') {
          void announceActivity(agent, msg.type, msg.reference.toUpperCase()).catch(() => {})
        }
      })

      socket.on('close', () => {
        clearInterval(ping)
        hub.off('event', forward)
        hub.detach()
        const left = (socketsOf.get(agent.agentId) ?? 1) - 1
        if (left > 0) socketsOf.set(agent.agentId, left)
        else {
          socketsOf.delete(agent.agentId)
          void setPresence(agent, 'offline').catch(() => {})
        }
      })
    }
  )

  /** "Who else is on this case": only for a case of the agent's own partnership. */
  async function announceActivity(agent: AgentClaims, activity: string, reference: string) {
    const { rows } = await db.query<{ reference: string }>('select reference from cases where reference = $1 and partnership_id = $2', [reference, agent.partnershipId])
    if (!rows[0]) return
    await hub.announce({
      type: 'case.viewers',
      event_id: 0,
      at: new Date().toISOString(),
      partnership_id: agent.partnershipId,
      agent_id: agent.agentId,
      detail: { reference, activity },
      case: { ...EMPTY_CASE, reference }
    })
  }
}

const EMPTY_CASE: LiveEvent['case'] = { reference: '', council_gss: null, status: '', work_status: '', priority: '', assigned_agent_id: null, sla_due_at: null }
