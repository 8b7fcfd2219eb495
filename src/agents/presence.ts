import type { Queryable } from '../db/pool.js'
import type { LiveEvent, LiveHub } from '../realtime/hub.js'
import { perTurn } from '../lib/per-turn.js'
import type { AgentClaims } from './tokens.js'

/** What an agent's live socket says of them (src/routes/agents/stream.ts): presence, and which case they are on. */

export type Presence = 'online' | 'away' | 'offline'

/** Presence and "viewing" name no case's contents: the case part of their live event is empty. */
const EMPTY_CASE: LiveEvent['case'] = { reference: '', council_gss: null, status: '', work_status: '', priority: '', assigned_agent_id: null, sla_due_at: null }

interface PresenceAsked {
  hub: LiveHub
  agent: AgentClaims
  presence: Presence
}
/** Per pool, presence asked for in one turn of the event loop, written together. */
const writers = new WeakMap<Queryable, (asked: PresenceAsked) => Promise<void>>()

/**
 * Writes presence; announces it only when it changed. A disabled agent can only go offline.
 * What every socket says in one turn of the event loop is written by one statement: when a
 * contact centre's desks all reconnect at once (a restart, the network back), one write and
 * one commit each held the pool's connections long enough for other desks' logins to wait
 * past the pool's limit and be refused. Within a turn an agent's last word counts (each
 * socket says its own in order: src/routes/agents/stream.ts).
 */
export function setPresence(db: Queryable, hub: LiveHub, agent: AgentClaims, presence: Presence): Promise<void> {
  let write = writers.get(db)
  if (!write) {
    write = perTurn(async (asked: PresenceAsked[]) => {
      await writePresence(db, asked)
      return () => undefined
    })
    writers.set(db, write)
  }
  return write({ hub, agent, presence })
}

async function writePresence(db: Queryable, asked: PresenceAsked[]): Promise<void> {
  const last = new Map<number, PresenceAsked>()
  for (const a of asked) last.set(a.agent.agentId, a)
  const ids = [...last.keys()]
  const { rows } = await db.query<{ id: number; was: Presence }>({
    name: 'agents-presence',
    // locked in id order, so two batches naming the same agents cannot deadlock
    text: `with asked as (select * from unnest($1::bigint[], $2::text[]) as a (id, presence)),
                old as (select ag.id, ag.presence from agents ag join asked on asked.id = ag.id
                         where ag.active or asked.presence = 'offline' order by ag.id for update of ag)
           update agents a set presence = asked.presence, presence_at = now()
             from old join asked on asked.id = old.id
            where a.id = old.id
           returning a.id, old.presence as was`,
    values: [ids, ids.map((id) => last.get(id)!.presence)]
  })
  const changed = rows.filter((row) => row.was !== last.get(Number(row.id))!.presence)
  await Promise.all(
    changed.map((row) => {
      const { hub, agent, presence } = last.get(Number(row.id))!
      return hub.announce({ type: 'presence', event_id: 0, at: new Date().toISOString(), partnership_id: agent.partnershipId, agent_id: agent.agentId, detail: { presence }, case: EMPTY_CASE })
    })
  )
}

/** "Who else is on this case": only for a case of the agent's own partnership. */
export async function announceActivity(db: Queryable, hub: LiveHub, agent: AgentClaims, activity: string, reference: string): Promise<void> {
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
