import { withTransaction, type Db } from '../db/pool.js'
import { AppError } from '../errors.js'
import { recordEvents } from '../events/record.js'

export interface MergeRequest {
  /** the resident merged away: their cases and contact points move */
  fromResidentId: number
  /** the resident who remains */
  intoResidentId: number
  /** who decided, e.g. 'agent:42'; recorded on the merge and on every moved case */
  actor: string
  /** why, in the agent's words (the same person texting and emailing, say) */
  reason: string
}

export interface MergeResult {
  mergeId: number
  casesMoved: number
  pointsMoved: number
}

/**
 * Joins two residents: the only way two identities become one. Intake never does it,
 * whatever a contact claims; a person does, saying who they are and why, and the record of
 * it (resident_merges, and a resident.merged event on each case moved) cannot be edited.
 * Contact points keep their verified or claimed standing, and cases keep the details they
 * were reported with, so a merge changes what agents see grouped together, not who may
 * open a case's status. The resident merged away stays, pointing at the one it joined.
 */
export async function mergeResidents(db: Db, req: MergeRequest): Promise<MergeResult> {
  const actor = req.actor.trim()
  const reason = req.reason.trim()
  if (!actor) throw new AppError('validation_failed', { field: 'actor', message: 'A merge must say who made it' })
  if (!reason) throw new AppError('validation_failed', { field: 'reason', message: 'A merge must say why' })
  if (req.fromResidentId === req.intoResidentId) throw new AppError('validation_failed', { field: 'into', message: 'A resident cannot be merged into themselves' })

  return withTransaction(db, async (tx) => {
    // both rows locked in id order, so two merges of the same pair cannot deadlock
    const { rows } = await tx.query<{ id: number; merged_into: number | null }>(
      'select id, merged_into from residents where id = any($1::bigint[]) order by id for update',
      [[req.fromResidentId, req.intoResidentId]]
    )
    const from = rows.find((r) => r.id === req.fromResidentId)
    const into = rows.find((r) => r.id === req.intoResidentId)
    if (!from || !into) throw new AppError('not_found', { message: 'No such resident' })
    if (from.merged_into !== null) throw new AppError('validation_failed', { field: 'from', message: 'This resident was already merged into another' })
    if (into.merged_into !== null) throw new AppError('validation_failed', { field: 'into', message: 'This resident was merged into another; merge into that one' })

    const points = await tx.query('update contact_points set resident_id = $2 where resident_id = $1', [from.id, into.id])
    const cases = await tx.query<{ id: number }>('update cases set resident_id = $2, updated_at = clock_timestamp() where resident_id = $1 returning id', [from.id, into.id])
    await tx.query('update residents set merged_into = $2 where id = $1', [from.id, into.id])
    const merge = await tx.query<{ id: number }>(
      `insert into resident_merges (from_resident, into_resident, actor, reason, cases_moved, points_moved)
       values ($1, $2, $3, $4, $5, $6) returning id`,
      [from.id, into.id, actor, reason, cases.rowCount ?? 0, points.rowCount ?? 0]
    )
    const mergeId = merge.rows[0]!.id
    await recordEvents(
      tx,
      cases.rows.map((c) => ({
        caseId: c.id,
        type: 'resident.merged',
        actor,
        reason: `resident merged: ${reason}`,
        data: { merge_id: mergeId, from_resident: from.id, into_resident: into.id }
      }))
    )
    return { mergeId, casesMoved: cases.rowCount ?? 0, pointsMoved: points.rowCount ?? 0 }
  })
}
