import { withTransaction, type Db, type DbClient } from '../db/pool.js'
import { eventsFrom, sql } from '../events/record.js'
import { QUEUE_ORDER, QUEUE_WHERE, spareCapacity, type Team } from './queue.js'

/** An agent counts as online while their last heartbeat is this recent. */
export const ONLINE_WITHIN_SECONDS = 90

/** One case handed out by round-robin. */
export interface Assignment {
  caseId: number
  reference: string
  agentId: number
  teamId: number
}

interface Candidate {
  id: number
  lastAssignedAt: Date | null
  spare: number
}

/**
 * Hands out the unassigned cases of a partnership's auto-assigning teams (or of one of them),
 * top of the queue first, each to the team's online agent with spare capacity who was given
 * a case longest ago (never: first). One transaction per team: the team's agents' rows are
 * locked (in id order, so runs for overlapping teams cannot deadlock) before capacity is
 * counted, and cases are taken `for update skip locked`, so runs at the same time, or an
 * agent's "next case" meanwhile, never push an agent beyond their capacity or hand out a
 * case twice. A team without auto_assign is left alone.
 */
export async function assignRoundRobin(db: Db, partnershipId: string, teamId?: number | null, actor = 'worker:assign'): Promise<Assignment[]> {
  const { rows: teams } = await db.query<Team>(
    `select id, partnership_id, name, council_gss, auto_assign from teams
      where partnership_id = $1 and auto_assign and ($2::bigint is null or id = $2) order by id`,
    [partnershipId, teamId ?? null]
  )
  const done: Assignment[] = []
  for (const team of teams) done.push(...(await withTransaction(db, (tx) => assignTeam(tx, team, actor))))
  return done
}

async function assignTeam(tx: DbClient, team: Team, actor: string): Promise<Assignment[]> {
  const { rows: online } = await tx.query<{ id: number; last_assigned_at: Date | null }>(
    `select a.id, a.last_assigned_at from agents a join agent_teams t on t.agent_id = a.id and t.team_id = $1
      where a.partnership_id = $2 and a.active and a.presence = 'online' and a.presence_at > clock_timestamp() - make_interval(secs => $3)
      order by a.id for update of a`,
    [team.id, team.partnership_id, ONLINE_WITHIN_SECONDS]
  )
  if (!online.length) return []
  const spare = await spareCapacity(tx, online.map((a) => a.id))
  const ring: Candidate[] = online
    .map((a) => ({ id: a.id, lastAssignedAt: a.last_assigned_at, spare: spare.get(a.id) ?? 0 }))
    .filter((a) => a.spare > 0)
    .sort((x, y) => (x.lastAssignedAt?.getTime() ?? -Infinity) - (y.lastAssignedAt?.getTime() ?? -Infinity) || x.id - y.id)
  const room = ring.reduce((n, a) => n + a.spare, 0)
  if (!room) return []
  const { rows: cases } = await tx.query<{ id: number }>(
    `select c.id from cases c where ${QUEUE_WHERE} order by ${QUEUE_ORDER} limit $4 for update of c skip locked`,
    [team.partnership_id, team.council_gss, team.id, room]
  )
  const pairs = deal(ring, cases.map((c) => c.id))
  if (!pairs.length) return []
  const assigned = eventsFrom(
    {
      from: 'c',
      caseId: sql('id'),
      type: 'case.assigned',
      actor,
      reason: 'Assigned round-robin to an online agent of the team',
      data: { agent_id: sql<number>('assigned_agent_id'), how: 'round_robin', team_id: team.id }
    },
    [pairs.map((p) => p.caseId), pairs.map((p) => p.agentId), team.id]
  )
  const { rows } = await tx.query<{ id: number; reference: string; assigned_agent_id: number }>(
    `with x as (select * from unnest($1::bigint[], $2::bigint[]) as x (case_id, agent_id)),
     c as (
       update cases set assigned_agent_id = x.agent_id, assigned_at = clock_timestamp(), team_id = $3, work_status = 'open', updated_at = clock_timestamp()
         from x where cases.id = x.case_id
       returning cases.id, cases.reference, cases.assigned_agent_id
     ), e as (${assigned.text})
     select * from c`,
    assigned.values
  )
  // the agent given a case last in this run is the last in line next time. Turns are a whole
  // millisecond apart: the next run compares these times as JavaScript Dates, which keep
  // milliseconds only, so turns a microsecond apart read as a tie (then settled by id).
  const lastTurn = new Map<number, number>()
  pairs.forEach((p, turn) => lastTurn.set(p.agentId, turn))
  await tx.query(
    `update agents a set last_assigned_at = clock_timestamp() + make_interval(secs => t.turn / 1e3)
       from unnest($1::bigint[], $2::int[]) as t (agent_id, turn) where a.id = t.agent_id`,
    [[...lastTurn.keys()], [...lastTurn.values()]]
  )
  return rows.map((r) => ({ caseId: r.id, reference: r.reference, agentId: r.assigned_agent_id, teamId: team.id }))
}

/** Deals cases in order to the ring of agents, each case to the first with room, who then goes to the back. */
function deal(ring: Candidate[], caseIds: number[]): { caseId: number; agentId: number }[] {
  const line = ring.map((a) => ({ ...a }))
  const pairs: { caseId: number; agentId: number }[] = []
  for (const caseId of caseIds) {
    const i = line.findIndex((a) => a.spare > 0)
    if (i < 0) break
    const [agent] = line.splice(i, 1)
    agent!.spare--
    line.push(agent!)
    pairs.push({ caseId, agentId: agent!.id })
  }
  return pairs
}
