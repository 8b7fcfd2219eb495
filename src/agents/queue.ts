import { withTransaction, type Db, type Queryable } from '../db/pool.js'
import type { EventData } from '../events/catalogue.js'
import { eventsFrom, sql } from '../events/record.js'
import type { AgentClaims } from './tokens.js'

/** Why an agent's act on a case cannot be done now: each answers 409 with this code. */
export type ConflictCode = 'at_capacity' | 'invalid_transition' | 'already_assigned' | 'not_assigned' | 'agent_inactive'

/**
 * A refusal the agent can act on (take fewer cases, pick another transition). Answered as a
 * 409 with its code by the agent routes; these codes belong in src/errors.ts's catalogue.
 */
export class WorkConflict extends Error {
  readonly code: ConflictCode
  constructor(code: ConflictCode, message: string) {
    super(message)
    this.name = 'WorkConflict'
    this.code = code
  }
}

/** The work statuses a case waits in a queue with, when no one holds it. */
export const QUEUE_STATUSES = ['new', 'open', 'waiting_on_resident', 'waiting_on_back_office'] as const

/** A queue: a partnership's unassigned work, narrowed to a team's council and to cases not sent to another team. */
export interface QueueScope {
  partnershipId: string
  team?: Team | null
}

export interface Team {
  id: number
  partnership_id: string
  name: string
  council_gss: string | null
  auto_assign: boolean
}

export interface QueueItem {
  id: number
  reference: string
  priority: string
  work_status: string
  channel: string
  council_gss: string | null
  service_code: string | null
  team_id: number | null
  description: string
  /** the property and street it is about, and the reporting client's page for it (FixMyStreet) */
  uprn: string | null
  usrn: string | null
  report_url: string | null
  sla_due_at: Date | null
  created_at: Date
}

// One filter and one order for the listing, "next case" and round-robin, so the case an
// agent is handed is always the one at the top of the list they see. $1 partnership,
// $2 the team's council (null: all), $3 the team (null: any); a case sent to another team
// has left this team's queue. Priority first, then the SLA due time, then age.
export const QUEUE_WHERE = `c.partnership_id = $1 and c.assigned_agent_id is null and c.merged_into is null
   and c.work_status in ('new', 'open', 'waiting_on_resident', 'waiting_on_back_office')
   and ($2::text is null or c.council_gss = $2) and ($3::bigint is null or c.team_id is null or c.team_id = $3)`
export const QUEUE_ORDER = `array_position(array['urgent', 'high', 'normal', 'low'], c.priority), c.sla_due_at nulls last, c.id`

const scopeParams = (s: QueueScope) => [s.partnershipId, s.team?.council_gss ?? null, s.team?.id ?? null]

/** A team of this partnership, or null (another partnership's team is as good as absent). */
export async function findTeam(db: Queryable, partnershipId: string, teamId: number): Promise<Team | null> {
  const { rows } = await db.query<Team>('select id, partnership_id, name, council_gss, auto_assign from teams where id = $1 and partnership_id = $2', [teamId, partnershipId])
  return rows[0] ?? null
}

/** One page of a queue, top first. */
export async function listQueue(db: Queryable, scope: QueueScope, page: { limit: number; offset: number }): Promise<QueueItem[]> {
  const { rows } = await db.query<QueueItem>(
    `select c.id, c.reference, c.priority, c.work_status, c.channel, c.council_gss, c.service_code, c.team_id, c.description,
            c.uprn, c.usrn, c.external_report->>'url' as report_url, c.sla_due_at, c.created_at
       from cases c where ${QUEUE_WHERE} order by ${QUEUE_ORDER} limit $4 offset $5`,
    [...scopeParams(scope), page.limit, page.offset]
  )
  return rows
}

/**
 * Locks the agent's row and answers how many more cases they may hold. Whoever hands an
 * agent a case takes this lock first, so two hand-outs to one agent cannot both see the
 * same spare capacity. Cases resolved, closed or merged away do not count. Null for an
 * agent who is not an active member of the partnership.
 */
export async function lockSpareCapacity(db: Queryable, agentId: number, partnershipId: string): Promise<number | null> {
  const locked = await db.query('select id from agents where id = $1 and partnership_id = $2 and active for update', [agentId, partnershipId])
  if (!locked.rows[0]) return null
  return (await spareCapacity(db, [agentId])).get(agentId) ?? 0
}

/**
 * Spare capacity of agents whose rows the caller has locked. A statement of its own, after
 * the lock: under read committed it sees what the holder of the lock before us committed,
 * which a count in the locking statement (its snapshot taken before the wait) would not.
 */
export async function spareCapacity(db: Queryable, agentIds: number[]): Promise<Map<number, number>> {
  const { rows } = await db.query<{ id: number; spare: number }>(
    `select a.id, a.capacity - (select count(*) from cases c
                                 where c.assigned_agent_id = a.id and c.merged_into is null and c.work_status not in ('resolved', 'closed'))::int as spare
       from agents a where a.id = any ($1::bigint[])`,
    [agentIds]
  )
  return new Map(rows.map((r) => [r.id, r.spare]))
}

/**
 * "Next case": the top of the queue goes to the agent, in one transaction. The row is taken
 * with `for update skip locked`, so an agent racing another skips the case being handed out
 * and takes the one after it; two agents never get the same case. Null when the queue is empty.
 */
export async function takeNext(db: Db, agent: AgentClaims, team: Team | null): Promise<QueueItem | null> {
  return withTransaction(db, async (tx) => {
    const spare = await lockSpareCapacity(tx, agent.agentId, agent.partnershipId)
    if (spare === null) throw new WorkConflict('agent_inactive', 'This agent account is no longer active')
    if (spare <= 0) throw new WorkConflict('at_capacity', 'You already hold as many open cases as your capacity allows')
    const { rows } = await tx.query<{ id: number }>(
      `select c.id from cases c where ${QUEUE_WHERE} order by ${QUEUE_ORDER} limit 1 for update of c skip locked`,
      scopeParams({ partnershipId: agent.partnershipId, team })
    )
    const top = rows[0]
    if (!top) return null
    return assignLocked(tx, top.id, agent.agentId, team?.id ?? null, `agent:${agent.agentId}`, 'next', 'The agent took the case as their next one')
  })
}

/**
 * Gives a case already locked by the caller to an agent: assigned, open (being worked now),
 * kept with the team it came through, and a `case.assigned` event.
 */
export async function assignLocked(
  tx: Queryable,
  caseId: number,
  agentId: number,
  teamId: number | null,
  actor: string,
  how: EventData<'case.assigned'>['how'],
  reason: string
): Promise<QueueItem> {
  const assigned = eventsFrom({ from: 'c', caseId: sql('id'), type: 'case.assigned', actor, reason, data: { agent_id: agentId, how } }, [caseId, agentId, teamId])
  const { rows } = await tx.query<QueueItem>(
    `with c as (
       update cases set assigned_agent_id = $2, assigned_at = clock_timestamp(), team_id = coalesce($3, team_id),
                        work_status = 'open', updated_at = clock_timestamp()
        where id = $1
       returning id, reference, priority, work_status, channel, council_gss, service_code, team_id, description,
                 uprn, usrn, external_report->>'url' as report_url, sla_due_at, created_at
     ), e as (${assigned.text})
     select * from c`,
    assigned.values
  )
  return rows[0]!
}
