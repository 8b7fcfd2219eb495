import { withTransaction, type Db } from '../db/pool.js'
import { AppError } from '../errors.js'
import { recordEvent } from '../events/record.js'
import { relayNow, type OutboxRow } from '../jobs/outbox-relay.js'
import type { Queues } from '../jobs/queues.js'
import type { Log } from '../logger.js'

/**
 * An operator sends a dead-lettered (or kept) delivery again: it gets a fresh set of attempts, keeps
 * its delivery id (so the receiver can still dedupe), and the audit trail says who did it.
 */
export async function retryDelivery(deps: { db: Db; queues: Queues; log: Log }, publicId: string, actor: string): Promise<{ id: string; state: 'pending' }> {
  const row = await withTransaction(deps.db, async (tx) => {
    const found = await tx.query<{ id: number; case_id: number; state: string }>(
      'select id, case_id, state from deliveries where public_id = $1 for update',
      [publicId]
    )
    const d = found.rows[0]
    if (!d) throw new AppError('not_found', { message: 'No delivery with this id' })
    // a kept one too: once SMTP_URL is set, an operator can send what the demo transport kept
    if (d.state !== 'dead' && d.state !== 'kept') {
      throw new AppError('delivery_not_retryable', { message: `The delivery is ${d.state}; only a dead-lettered or kept delivery can be retried` })
    }
    await tx.query(`update deliveries set state = 'pending', attempts = 0, updated_at = now() where id = $1`, [d.id])
    await recordEvent(tx, {
      caseId: d.case_id,
      type: 'delivery.retried',
      actor,
      reason: `an operator sent the ${d.state === 'kept' ? 'kept' : 'dead-lettered'} delivery again`,
      data: { delivery_id: publicId }
    })
    const outbox = await tx.query<OutboxRow>(
      `insert into outbox (topic, payload) values ('case:deliver', jsonb_build_object('delivery_id', $1::bigint)) returning id, topic, payload, job_key`,
      [d.id]
    )
    return outbox.rows[0] as OutboxRow
  })
  relayNow(deps.queues, row, deps.log)
  return { id: publicId, state: 'pending' }
}
