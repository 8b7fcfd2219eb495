import type { Queryable } from '../db/pool.js'
import { ONLINE_WITHIN_SECONDS } from './assignment.js'
import { QUEUE_ORDER, type QueueItem } from './queue.js'

/**
 * What an agent's desk reads: the cases they hold, one case whole (its resident, messages,
 * events and SLA clocks), and the colleagues and teams they can pass a case to. Each read
 * is of the agent's own partnership only; another partnership's case is as good as absent.
 */

/** The SLA clocks of a case, as the sla worker keeps them (src/sla). */
export interface SlaClocks {
  first_response_due_at: Date | null
  first_response_at: Date | null
  first_response_breached_at: Date | null
  resolution_due_at: Date | null
  resolution_breached_at: Date | null
  /** set while the case waits on the resident: the resolution clock is paused (src/sla/sql/pause.sql) */
  resolution_paused_at: Date | null
}

export interface CaseMessage {
  id: number
  direction: string
  channel: string
  kind: string | null
  subject: string | null
  body: string
  author: string | null
  status: string | null
  created_at: Date
}

export interface CaseEventView {
  id: number
  type: string
  actor: string
  reason: string | null
  created_at: Date
}

export interface AgentCase extends QueueItem, SlaClocks {
  status: string
  council_name: string | null
  service_name: string | null
  assigned_agent_id: number | null
  merged_into_reference: string | null
  resident: { id: number; name: string | null; email: string | null; phone: string | null }
  messages: CaseMessage[]
  events: CaseEventView[]
}

const CASE_COLUMNS = `c.id, c.reference, c.priority, c.work_status, c.channel, c.council_gss, c.service_code, c.team_id, c.description,
  c.uprn, c.usrn, c.external_report->>'url' as report_url, c.sla_due_at, c.created_at`

/** The open cases this agent holds (not resolved, closed or merged away), most urgent first. */
export async function listMine(db: Queryable, agentId: number, partnershipId: string): Promise<QueueItem[]> {
  const { rows } = await db.query<QueueItem>(
    `select ${CASE_COLUMNS}
       from cases c
      where c.assigned_agent_id = $1 and c.partnership_id = $2 and c.merged_into is null
        and c.work_status not in ('resolved', 'closed')
      order by ${QUEUE_ORDER} limit 200`,
    [agentId, partnershipId]
  )
  return rows
}

/** One case of the partnership, whole; null when there is none (or it is another partnership's). */
export async function caseForAgent(db: Queryable, partnershipId: string, reference: string): Promise<AgentCase | null> {
  const { rows } = await db.query<AgentCase>(
    `select ${CASE_COLUMNS}, c.status, c.assigned_agent_id,
            c.first_response_due_at, c.first_response_at, c.first_response_breached_at, c.resolution_due_at, c.resolution_breached_at, c.resolution_paused_at,
            co.name as council_name, s.name as service_name, m.reference as merged_into_reference,
            json_build_object('id', c.resident_id, 'name', coalesce(c.reported_name, r.display_name),
                              'email', c.reported_email, 'phone', c.reported_phone) as resident,
            coalesce((select json_agg(json_build_object('id', x.id, 'direction', x.direction, 'channel', x.channel, 'kind', x.kind,
                                                        'subject', x.subject, 'body', x.body, 'author', x.author, 'status', x.status,
                                                        'created_at', x.created_at) order by x.id)
                        from messages x where x.case_id = c.id), '[]') as messages,
            coalesce((select json_agg(json_build_object('id', e.id, 'type', e.type, 'actor', e.actor, 'reason', e.reason,
                                                        'created_at', e.created_at) order by e.id)
                        from case_events e where e.case_id = c.id), '[]') as events
       from cases c
       join residents r on r.id = c.resident_id
       left join councils co on co.gss = c.council_gss
       left join services s on s.code = c.service_code
       left join cases m on m.id = c.merged_into
      where c.reference = $1 and c.partnership_id = $2`,
    [reference, partnershipId]
  )
  return rows[0] ?? null
}

export interface Colleague {
  id: number
  display_name: string | null
  role: string
  presence: string
}

export interface Directory {
  me: Colleague & { email: string; capacity: number }
  colleagues: Colleague[]
  teams: Array<{ id: number; name: string; council_gss: string | null }>
}

/** The agent, their active colleagues (with presence, as the supervisor's overview counts it) and the partnership's teams. */
export async function directoryOf(db: Queryable, agentId: number, partnershipId: string): Promise<Directory | null> {
  const { rows } = await db.query<{ agents: Array<Colleague & { email: string; capacity: number }>; teams: Directory['teams'] }>(
    `select coalesce((select json_agg(json_build_object('id', a.id, 'display_name', a.display_name, 'role', a.role, 'email', a.email,
                                                        'capacity', a.capacity,
                                                        'presence', case when a.presence <> 'offline' and a.presence_at > clock_timestamp() - make_interval(secs => $2)
                                                                         then a.presence else 'offline' end)
                                      order by a.display_name, a.id)
                        from agents a where a.partnership_id = $1 and a.active), '[]') as agents,
            coalesce((select json_agg(json_build_object('id', t.id, 'name', t.name, 'council_gss', t.council_gss) order by t.name)
                        from teams t where t.partnership_id = $1), '[]') as teams`,
    [partnershipId, ONLINE_WITHIN_SECONDS]
  )
  const all = rows[0]!
  const me = all.agents.find((a) => a.id === agentId)
  if (!me) return null
  const colleagues = all.agents.filter((a) => a.id !== agentId).map(({ id, display_name, role, presence }) => ({ id, display_name, role, presence }))
  return { me, colleagues, teams: all.teams }
}
