import { withTransaction, type Db, type DbClient, type Queryable } from '../db/pool.js'
import { AppError } from '../errors.js'
import { recordEvent } from '../events/record.js'
import type { OutboxRow } from '../jobs/outbox-relay.js'
import { queueEmailReply } from '../messaging/email-outbound.js'
import { queueReply } from '../messaging/outbound.js'
import { assignLocked, findTeam, lockSpareCapacity, WorkConflict, type QueueItem } from './queue.js'
import type { AgentClaims } from './tokens.js'
import { WORK_TRANSITIONS, type WorkStatus } from './work-statuses.js'

export { WorkConflict, type ConflictCode } from './queue.js'

export { WORK_STATUSES, WORK_TRANSITIONS, type WorkStatus } from './work-statuses.js'

/** Statuses a reply moves to waiting_on_resident; a reply after resolution leaves it resolved. */
const AWAITS_REPLY = new Set<WorkStatus>(['new', 'open', 'waiting_on_resident', 'waiting_on_back_office'])

/** True when an agent of this role may move a case from one work status to the other. */
export function mayMove(from: WorkStatus, to: WorkStatus, role: AgentClaims['role']): boolean {
  if (!WORK_TRANSITIONS[from].includes(to)) return false
  return from !== 'closed' || role !== 'agent'
}

interface LockedCase {
  id: number
  reference: string
  work_status: WorkStatus
  assigned_agent_id: number | null
  team_id: number | null
}

const actorOf = (agent: AgentClaims) => `agent:${agent.agentId}`

/** The agent's partnership's case, locked for the transaction; any other is not found. */
async function lockCase(tx: Queryable, agent: AgentClaims, reference: string): Promise<LockedCase> {
  const { rows } = await tx.query<LockedCase>(
    'select id, reference, work_status, assigned_agent_id, team_id from cases where reference = $1 and partnership_id = $2 for update',
    [reference, agent.partnershipId]
  )
  if (!rows[0]) throw new AppError('not_found', { message: 'No case with this reference' })
  return rows[0]
}

/** Only the agent holding a case, or a supervisor, may give it up or pass it on. */
function mustHoldOrSupervise(agent: AgentClaims, c: LockedCase) {
  if (agent.role === 'agent' && c.assigned_agent_id !== null && c.assigned_agent_id !== agent.agentId) {
    throw new AppError('forbidden', { message: 'Another agent holds this case; ask them or a supervisor' })
  }
}

/** The agent takes an unassigned case of their partnership, within their capacity. */
export async function claimCase(db: Db, agent: AgentClaims, reference: string): Promise<QueueItem> {
  return withTransaction(db, async (tx) => {
    // the agent's row first, then the case: the order every hand-out locks in
    const spare = await lockSpareCapacity(tx, agent.agentId, agent.partnershipId)
    const c = await lockCase(tx, agent, reference)
    if (c.assigned_agent_id !== null) throw new WorkConflict('already_assigned', 'Another agent holds this case already')
    if (spare === null) throw new WorkConflict('agent_inactive', 'This agent account is no longer active')
    if (spare <= 0) throw new WorkConflict('at_capacity', 'You already hold as many open cases as your capacity allows')
    return assignLocked(tx, c.id, agent.agentId, null, actorOf(agent), 'claim', 'The agent claimed the case')
  })
}

/** The case goes back to its queue, unassigned, keeping its work status. */
export async function releaseCase(db: Db, agent: AgentClaims, reference: string): Promise<void> {
  await withTransaction(db, async (tx) => {
    const c = await lockCase(tx, agent, reference)
    if (c.assigned_agent_id === null) throw new WorkConflict('not_assigned', 'No one holds this case')
    mustHoldOrSupervise(agent, c)
    await tx.query('update cases set assigned_agent_id = null, assigned_at = null, updated_at = clock_timestamp() where id = $1', [c.id])
    await recordEvent(tx, { caseId: c.id, type: 'case.released', actor: actorOf(agent), reason: 'The case went back to the queue', data: { agent_id: c.assigned_agent_id } })
  })
}

export type TransferTarget = { agentId: number } | { teamId: number }

/**
 * Passes a case to another agent of the partnership (within their capacity) or to a team
 * (back to that team's queue, unassigned), with the reason in the case event.
 */
export async function transferCase(db: Db, agent: AgentClaims, reference: string, to: TransferTarget, reason: string): Promise<void> {
  await withTransaction(db, async (tx) => {
    if ('agentId' in to) {
      const spare = await lockSpareCapacity(tx, to.agentId, agent.partnershipId)
      const c = await lockCase(tx, agent, reference)
      mustHoldOrSupervise(agent, c)
      if (spare === null) throw new AppError('validation_failed', { field: 'agent_id', message: 'agent_id is not an active agent of your partnership' })
      if (c.assigned_agent_id === to.agentId) return
      if (spare <= 0) throw new WorkConflict('at_capacity', 'That agent already holds as many open cases as their capacity allows')
      await assignLocked(tx, c.id, to.agentId, null, actorOf(agent), 'transfer', 'The case was transferred to another agent')
      await recordEvent(tx, { caseId: c.id, type: 'case.transferred', actor: actorOf(agent), reason, data: { from_agent_id: c.assigned_agent_id, to_agent_id: to.agentId } })
      return
    }
    const team = await findTeam(tx, agent.partnershipId, to.teamId)
    if (!team) throw new AppError('validation_failed', { field: 'team_id', message: 'team_id is not a team of your partnership' })
    const c = await lockCase(tx, agent, reference)
    mustHoldOrSupervise(agent, c)
    await tx.query('update cases set team_id = $2, assigned_agent_id = null, assigned_at = null, updated_at = clock_timestamp() where id = $1', [c.id, team.id])
    await recordEvent(tx, { caseId: c.id, type: 'case.transferred', actor: actorOf(agent), reason, data: { from_agent_id: c.assigned_agent_id, from_team_id: c.team_id, to_team_id: team.id } })
  })
}

/**
 * Moves a case's work status along an allowed transition, or refuses with invalid_transition.
 * `onResolved` runs in the same transaction when the case becomes resolved (the satisfaction
 * question, src/feedback/csat.ts); the outbox row it answers is for the caller to relay.
 */
export async function setWorkStatus(
  db: Db,
  agent: AgentClaims,
  reference: string,
  to: WorkStatus,
  onResolved?: (tx: DbClient, caseId: number) => Promise<OutboxRow | null>
): Promise<{ from: WorkStatus; to: WorkStatus; outbox: OutboxRow | null }> {
  return withTransaction(db, async (tx) => {
    const c = await lockCase(tx, agent, reference)
    if (!mayMove(c.work_status, to, agent.role)) {
      const who = c.work_status === 'closed' && to === 'open' ? ' (only a supervisor reopens a closed case)' : ''
      throw new WorkConflict('invalid_transition', `A case cannot go from ${c.work_status} to ${to}${who}`)
    }
    await changeStatus(tx, c, to, agent)
    const outbox = to === 'resolved' && onResolved ? await onResolved(tx, c.id) : null
    return { from: c.work_status, to, outbox }
  })
}

async function changeStatus(tx: DbClient, c: LockedCase, to: WorkStatus, agent: AgentClaims) {
  await tx.query('update cases set work_status = $2, updated_at = clock_timestamp() where id = $1', [c.id, to])
  await recordEvent(tx, {
    caseId: c.id,
    type: 'case.work_status_changed',
    actor: actorOf(agent),
    reason: `The agent moved the case from ${c.work_status.replaceAll('_', ' ')} to ${to.replaceAll('_', ' ')}`,
    data: { from: c.work_status, to }
  })
}

/**
 * The agent's reply, on the resident's channel (email, threaded, for a case that came by
 * email; else SMS), queued with its outbox row in the transaction that records the first
 * response and leaves the case waiting on the resident. The caller relays the outbox row
 * once committed.
 */
export async function replyToResident(db: Db, emailDomain: string, agent: AgentClaims, reference: string, body: string): Promise<{ messageId: number; outbox: OutboxRow }> {
  return withTransaction(db, async (tx) => {
    const c = await lockCase(tx, agent, reference)
    const queued = (await queueEmailReply(tx, c.reference, body, actorOf(agent), emailDomain)) ?? (await queueReply(tx, c.reference, body, actorOf(agent)))
    await tx.query('update cases set first_response_at = coalesce(first_response_at, clock_timestamp()) where id = $1', [c.id])
    if (AWAITS_REPLY.has(c.work_status) && c.work_status !== 'waiting_on_resident') await changeStatus(tx, c, 'waiting_on_resident', agent)
    return queued
  })
}

/**
 * An internal note: a case event only, never sent to the resident. Its type is not one the
 * council webhooks carry ('note.added' is the council's own), so it stays in the contact centre.
 */
export async function addInternalNote(db: Db, agent: AgentClaims, reference: string, body: string): Promise<void> {
  await withTransaction(db, async (tx) => {
    const c = await lockCase(tx, agent, reference)
    await recordEvent(tx, { caseId: c.id, type: 'note.internal', actor: actorOf(agent), reason: 'The agent added an internal note', data: { note: body } })
    await tx.query('update cases set updated_at = clock_timestamp() where id = $1', [c.id])
  })
}
