import { withTransaction, type Db, type Queryable } from '../db/pool.js'
import { AppError } from '../errors.js'
import { recordEvent } from '../events/record.js'
import { mergeResidents, type MergeResult } from '../residents/merge-residents.js'
import type { AgentClaims } from './tokens.js'

/** Why a merge, or its undo, cannot be done: each answers 409 with this code. */
export type MergeConflictCode = 'already_merged' | 'already_undone' | 'undo_window_passed' | 'merged_again' | 'undo_unavailable'

/** A refusal of a merge or an undo the agent can understand and act on; the routes answer it as a 409. */
export class MergeConflict extends Error {
  readonly code: MergeConflictCode
  constructor(code: MergeConflictCode, message: string) {
    super(message)
    this.name = 'MergeConflict'
    this.code = code
  }
}

/** What a case merge moved, as recorded in case_merges. */
export interface CaseMerge {
  id: number
  from: string
  into: string
  messageIds: number[]
  deliveryIds: number[]
  /** deliveries left on the merged case: the survivor already had one to the same destination */
  deliveriesKept: number
  undoUntil: Date
}

interface LockedCase {
  id: number
  reference: string
  work_status: string
  merged_into: number | null
  assigned_agent_id: number | null
}

const actorOf = (agent: AgentClaims) => `agent:${agent.agentId}`
const ids = (rows: { id: number | string }[]) => rows.map((r) => Number(r.id)).sort((a, b) => a - b)

/** Both cases of the agent's partnership, locked in id order (so two merges of one pair cannot deadlock); any other is not found. */
async function lockPair(tx: Queryable, partnershipId: string, by: 'reference' | 'id', a: string | number, b: string | number): Promise<[LockedCase, LockedCase]> {
  const { rows } = await tx.query<LockedCase>(
    `select id, reference, work_status, merged_into, assigned_agent_id from cases
      where ${by === 'reference' ? 'reference = any($1::text[])' : 'id = any($1::bigint[])'} and partnership_id = $2 order by id for update`,
    [[a, b], partnershipId]
  )
  const pick = (key: string | number) => rows.find((r) => (by === 'reference' ? r.reference === key : Number(r.id) === Number(key)))
  const [x, y] = [pick(a), pick(b)]
  if (!x || !y) throw new AppError('not_found', { message: 'No case with this reference' })
  return [x, y]
}

/**
 * Merges one case of the agent's partnership into another: its messages and deliveries move
 * to the survivor, it points at the survivor and is closed. Events stay where they were
 * written (case_events is append-only); the survivor gets a `case.merged` event listing what
 * came over, the merged case a `case.merged_into`. A delivery the survivor already has to the
 * same destination stays behind (one delivery per case and destination). A plain agent may
 * merge away only a case no one else holds. What moved is
 * recorded in case_merges, so undoMerge can move exactly that back within the window.
 */
export async function mergeCases(db: Db, agent: AgentClaims, fromRef: string, intoRef: string, reason: string, undoMinutes: number): Promise<CaseMerge> {
  const why = reason.trim()
  if (!why) throw new AppError('validation_failed', { field: 'reason', message: 'reason must say why' })
  if (fromRef === intoRef) throw new AppError('validation_failed', { field: 'into', message: 'A case cannot be merged into itself' })
  return withTransaction(db, async (tx) => {
    const [from, into] = await lockPair(tx, agent.partnershipId, 'reference', fromRef, intoRef)
    if (from.merged_into !== null) throw new MergeConflict('already_merged', 'This case was already merged into another')
    if (into.merged_into !== null) throw new MergeConflict('already_merged', 'The case to merge into was itself merged into another; merge into that one')
    // as with release and transfer: closing a case another agent is working is their call, or a supervisor's
    if (agent.role === 'agent' && from.assigned_agent_id !== null && from.assigned_agent_id !== agent.agentId) {
      throw new AppError('forbidden', { message: 'Another agent holds this case; ask them or a supervisor to merge it' })
    }

    const messages = await tx.query<{ id: number }>('update messages set case_id = $2 where case_id = $1 returning id', [from.id, into.id])
    const deliveries = await tx.query<{ id: number }>(
      `update deliveries d set case_id = $2, updated_at = now() where d.case_id = $1
          and not exists (select 1 from deliveries s where s.case_id = $2 and s.destination_id = d.destination_id)
       returning d.id`,
      [from.id, into.id]
    )
    const kept = await tx.query<{ n: number }>('select count(*)::int as n from deliveries where case_id = $1', [from.id])
    await tx.query(`update cases set merged_into = $2, work_status = 'closed', updated_at = clock_timestamp() where id = $1`, [from.id, into.id])
    const [messageIds, deliveryIds] = [ids(messages.rows), ids(deliveries.rows)]
    const { rows } = await tx.query<{ id: number; undo_until: Date }>(
      `insert into case_merges (partnership_id, from_case, into_case, agent_id, actor, reason, message_ids, delivery_ids, from_work_status, undo_until)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp() + make_interval(mins => $10)) returning id, undo_until`,
      [agent.partnershipId, from.id, into.id, agent.agentId, actorOf(agent), why, messageIds, deliveryIds, from.work_status, undoMinutes]
    )
    const merge = rows[0]!
    const deliveriesKept = kept.rows[0]!.n
    await recordEvent(tx, {
      caseId: into.id,
      type: 'case.merged',
      actor: actorOf(agent),
      reason: `Case ${from.reference} was merged into this one: ${why}`,
      data: { merge_id: merge.id, from_case: from.reference, message_ids: messageIds, delivery_ids: deliveryIds, deliveries_kept: deliveriesKept }
    })
    await recordEvent(tx, { caseId: from.id, type: 'case.merged_into', actor: actorOf(agent), reason: `Merged into ${into.reference}: ${why}`, data: { merge_id: merge.id, into_case: into.reference } })
    return { id: Number(merge.id), from: from.reference, into: into.reference, messageIds, deliveryIds, deliveriesKept, undoUntil: merge.undo_until }
  })
}

interface MergeRow {
  id: number
  from_case: number
  into_case: number
  agent_id: number | null
  message_ids: string[]
  delivery_ids: string[]
  from_work_status: string
  undone_at: Date | null
  expired: boolean
}

/**
 * Undoes a case merge of the agent's partnership within its window: exactly the messages and
 * deliveries it moved go back (ones that reached the survivor since stay there), the merged
 * case is reopened to its old work status, and both cases get a `case.merge_undone` event.
 * Only the agent who merged, or a supervisor, may undo; not after the window, nor once the
 * survivor was itself merged on (what moved is then no longer where the record says).
 */
export async function undoMerge(db: Db, agent: AgentClaims, mergeId: number): Promise<{ from: string; into: string; messageIds: number[]; deliveryIds: number[] }> {
  return withTransaction(db, async (tx) => {
    const { rows } = await tx.query<MergeRow>(
      `select id, from_case, into_case, agent_id, message_ids, delivery_ids, from_work_status, undone_at, clock_timestamp() > undo_until as expired
         from case_merges where id = $1 and partnership_id = $2 for update`,
      [mergeId, agent.partnershipId]
    )
    const m = rows[0]
    if (!m) throw new AppError('not_found', { message: 'No merge with this id' })
    if (agent.role === 'agent' && Number(m.agent_id) !== agent.agentId) throw new AppError('forbidden', { message: 'Only the agent who merged these cases, or a supervisor, may undo it' })
    if (m.undone_at) throw new MergeConflict('already_undone', 'This merge was already undone')
    if (m.expired) throw new MergeConflict('undo_window_passed', 'The time to undo this merge has passed')
    const [from, into] = await lockPair(tx, agent.partnershipId, 'id', m.from_case, m.into_case)
    if (into.merged_into !== null || Number(from.merged_into) !== Number(into.id)) {
      throw new MergeConflict('merged_again', 'The case was merged again since; undo that merge first')
    }
    const messages = await tx.query<{ id: number }>('update messages set case_id = $1 where id = any($3::bigint[]) and case_id = $2 returning id', [from.id, into.id, m.message_ids])
    const deliveries = await tx.query<{ id: number }>(
      `update deliveries d set case_id = $1, updated_at = now() where d.id = any($3::bigint[]) and d.case_id = $2
          and not exists (select 1 from deliveries s where s.case_id = $1 and s.destination_id = d.destination_id)
       returning d.id`,
      [from.id, into.id, m.delivery_ids]
    )
    await tx.query('update cases set merged_into = null, work_status = $2, updated_at = clock_timestamp() where id = $1', [from.id, m.from_work_status])
    await tx.query('update case_merges set undone_at = clock_timestamp(), undone_by = $2 where id = $1', [m.id, actorOf(agent)])
    const [messageIds, deliveryIds] = [ids(messages.rows), ids(deliveries.rows)]
    const data = { merge_id: Number(m.id), from_case: from.reference, into_case: into.reference, message_ids: messageIds, delivery_ids: deliveryIds }
    await recordEvent(tx, { caseId: into.id, type: 'case.merge_undone', actor: actorOf(agent), reason: `The merge of ${from.reference} into this case was undone`, data })
    await recordEvent(tx, { caseId: from.id, type: 'case.merge_undone', actor: actorOf(agent), reason: `The merge into ${into.reference} was undone; the case is separate again`, data })
    return { from: from.reference, into: into.reference, messageIds, deliveryIds }
  })
}

/** A resident as an agent names one: their id, or the reference of one of their cases. */
export type ResidentRef = number | string

/** The resident named, if they have a case of the partnership; else not found. */
async function residentOf(db: Queryable, partnershipId: string, ref: ResidentRef, field: string): Promise<number> {
  const { rows } =
    typeof ref === 'string'
      ? await db.query<{ id: number }>('select resident_id as id from cases where reference = $1 and partnership_id = $2', [ref.toUpperCase(), partnershipId])
      : await db.query<{ id: number }>('select r.id from residents r where r.id = $1 and exists (select 1 from cases c where c.resident_id = r.id and c.partnership_id = $2)', [ref, partnershipId])
  if (!rows[0]) throw new AppError('not_found', { field, message: 'No resident with a case of your partnership matches this' })
  return Number(rows[0].id)
}

/**
 * An agent joins two residents of their partnership through mergeResidents (audited in
 * resident_merges, with a resident.merged event on every moved case). Refused when either
 * has cases of another partnership: a merge moves all of a resident's cases, and one
 * partnership's agent must not regroup another's.
 */
export async function mergeResidentsAsAgent(db: Db, agent: AgentClaims, keep: ResidentRef, merge: ResidentRef, reason: string): Promise<MergeResult & { keep: number; merged: number }> {
  const intoId = await residentOf(db, agent.partnershipId, keep, 'keep')
  const fromId = await residentOf(db, agent.partnershipId, merge, 'merge')
  const { rows } = await db.query<{ elsewhere: boolean }>(
    'select exists (select 1 from cases where resident_id = any($1::bigint[]) and partnership_id <> $2) as elsewhere',
    [[intoId, fromId], agent.partnershipId]
  )
  if (rows[0]!.elsewhere) throw new AppError('forbidden', { message: 'One of these residents also has cases of another partnership; ask an administrator to merge them' })
  const done = await mergeResidents(db, { fromResidentId: fromId, intoResidentId: intoId, actor: actorOf(agent), reason })
  return { ...done, keep: intoId, merged: fromId }
}

/**
 * A resident merge cannot be undone safely: resident_merges records how many cases and
 * contact points moved, not which, and the residents may have written (and proved contact
 * points) since. Not found for a merge the agent cannot see; otherwise always refused.
 */
export async function undoResidentMerge(db: Queryable, agent: AgentClaims, mergeId: number): Promise<never> {
  const { rows } = await db.query(
    'select 1 from resident_merges m where m.id = $1 and exists (select 1 from cases c where c.resident_id = m.into_resident and c.partnership_id = $2)',
    [mergeId, agent.partnershipId]
  )
  if (!rows[0]) throw new AppError('not_found', { message: 'No resident merge with this id' })
  throw new MergeConflict(
    'undo_unavailable',
    'A resident merge cannot be undone: its record does not say which contact points and cases moved, and the resident may have written since. Ask an administrator to separate them.'
  )
}
