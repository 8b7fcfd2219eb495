import type { Queryable } from '../db/pool.js'
import type { LiveEvent, LiveHub } from '../realtime/hub.js'
import type { AgentClaims } from './tokens.js'

/** What an agent's live socket says of them (src/routes/agents/stream.ts): presence, and which case they are on. */

export type Presence = 'online' | 'away' | 'offline'

/** Presence and "viewing" name no case's contents: the case part of their live event is empty. */
const EMPTY_CASE: LiveEvent['case'] = { reference: '', council_gss: null, status: '', work_status: '', priority: '', assigned_agent_id: null, sla_due_at: null }

/** Writes presence; announces it only when it changed. A disabled agent can only go offline. */
export async function setPresence(db: Queryable, hub: LiveHub, agent: AgentClaims, presence: Presence): Promise<void> {
  const { rows } = await db.query<{ was: Presence }>(
    `with old as (select id, presence from agents where id = $1 and (active or $2 = 'offline') for update)
     update agents a set presence = $2, presence_at = now() from old where a.id = old.id returning old.presence as was`,
    [agent.agentId, presence]
  )
  if (rows[0] && rows[0].was !== presence) {
    await hub.announce({ type: 'presence', event_id: 0, at: new Date().toISOString(), partnership_id: agent.partnershipId, agent_id: agent.agentId, detail: { presence }, case: EMPTY_CASE })
  }
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
