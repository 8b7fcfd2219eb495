import type { Queryable } from '../db/pool.js'
import { ONLINE_WITHIN_SECONDS } from './assignment.js'
import { QUEUE_WHERE, type Team } from './queue.js'

/** An agent of a team as a supervisor sees them: presence as of their last heartbeat, and load. */
export interface AgentLoad {
  id: number
  display_name: string | null
  role: string
  /** online or away only while heartbeats keep coming; offline otherwise */
  presence: 'online' | 'away' | 'offline'
  presence_at: Date | null
  open_cases: number
  capacity: number
}

/** One team's line of the supervisor's overview. */
export interface TeamOverview {
  id: number
  name: string
  council_gss: string | null
  auto_assign: boolean
  /** unassigned cases waiting in the team's queue */
  queue_depth: number
  /** age in seconds of the oldest case waiting in the queue; null when it is empty */
  oldest_waiting_seconds: number | null
  /** cases of the team that have breached an SLA target and are not resolved or closed */
  sla_breached: number
  agents: AgentLoad[]
}

/**
 * The supervisor's view of their partnership, team by team. The queue is counted with the
 * same filter the queue listing and "next case" use, so the depth shown is the list agents
 * see. A breach is any `sla.breached` event on a case still being worked. A case with no team
 * counts in every team serving its council, as it waits in each of their queues.
 */
export async function supervisorOverview(db: Queryable, partnershipId: string): Promise<TeamOverview[]> {
  const { rows: teams } = await db.query<Team>('select id, partnership_id, name, council_gss, auto_assign from teams where partnership_id = $1 order by id', [partnershipId])
  const agents = await agentLoads(db, partnershipId)
  const out: TeamOverview[] = []
  // one small query per team (a partnership has a handful) keeps QUEUE_WHERE the one definition
  for (const t of teams) {
    const { rows } = await db.query<{ depth: number; oldest: number | null; breached: number }>(
      `select (select count(*)::int from cases c where ${QUEUE_WHERE}) as depth,
              (select floor(extract(epoch from clock_timestamp() - min(c.created_at)))::int from cases c where ${QUEUE_WHERE}) as oldest,
              (select count(*)::int from cases c
                where c.partnership_id = $1 and c.merged_into is null and c.work_status not in ('resolved', 'closed')
                  and ($2::text is null or c.council_gss = $2) and ($3::bigint is null or c.team_id is null or c.team_id = $3)
                  and exists (select 1 from case_events e where e.case_id = c.id and e.type = 'sla.breached')) as breached`,
      [partnershipId, t.council_gss, t.id]
    )
    const r = rows[0]!
    out.push({
      id: t.id,
      name: t.name,
      council_gss: t.council_gss,
      auto_assign: t.auto_assign,
      queue_depth: r.depth,
      oldest_waiting_seconds: r.oldest,
      sla_breached: r.breached,
      agents: agents.get(t.id) ?? []
    })
  }
  return out
}

/** Active agents of the partnership's teams, by team, with the open cases they hold (merged, resolved and closed ones do not count). */
async function agentLoads(db: Queryable, partnershipId: string): Promise<Map<number, AgentLoad[]>> {
  const { rows } = await db.query<AgentLoad & { team_id: number }>(
    `select m.team_id, a.id, a.display_name, a.role, a.presence_at, a.capacity,
            case when a.presence <> 'offline' and a.presence_at > clock_timestamp() - make_interval(secs => $2) then a.presence else 'offline' end as presence,
            (select count(*)::int from cases c where c.assigned_agent_id = a.id and c.merged_into is null and c.work_status not in ('resolved', 'closed')) as open_cases
       from agents a join agent_teams m on m.agent_id = a.id join teams t on t.id = m.team_id
      where t.partnership_id = $1 and a.partnership_id = $1 and a.active
      order by m.team_id, a.id`,
    [partnershipId, ONLINE_WITHIN_SECONDS]
  )
  const byTeam = new Map<number, AgentLoad[]>()
  for (const { team_id, ...agent } of rows) byTeam.set(team_id, [...(byTeam.get(team_id) ?? []), agent])
  return byTeam
}
