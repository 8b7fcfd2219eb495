import type { Queryable } from '../db/pool.js'
import { eventsFrom, sql } from '../events/record.js'

/**
 * The last attempt to route a case has failed with an error that retrying did not cure (a
 * catalogue without its fallback service, data routing cannot read): rather than leave the
 * case 'received' and its job coming back for ever, it goes to its partnership's triage
 * queue with the error as the reason, for a person to place. The partnership is the one
 * of the address the resident contacted, else of the council they named. Like routing, it
 * takes effect only while the case is still 'received', and marks the job's outbox row done
 * in the same statement. Returns whether the case was moved.
 */
export async function triageAfterFailure(db: Queryable, job: { caseId: number; outboxId: number }, attempts: number, error: string): Promise<boolean> {
  const event = eventsFrom(
    {
      from: 'placed',
      caseId: sql('placed.id'),
      type: 'case.triaged',
      actor: 'worker:route',
      reason: `routing failed on all ${attempts} attempts (${error}); a person must place this case`,
      data: { candidates: [], partnership_id: sql<string | null>('placed.partnership_id'), error }
    },
    [job.caseId, job.outboxId]
  )
  const { rows } = await db.query<{ moved: number }>(
    `with placed as (
       update cases c
          set status = 'triage',
              partnership_id = coalesce(c.partnership_id,
                (select coalesce(ia.partnership_id, pm.partnership_id)
                   from messages m
                   join inbound_addresses ia on ia.channel = m.channel and ia.address = m.recipient
                   left join partnership_members pm on pm.council_gss = ia.council_gss
                  where m.case_id = c.id order by m.id, pm.partnership_id limit 1),
                (select pm.partnership_id from partnership_members pm where pm.council_gss = c.requested_council_gss
                  order by pm.partnership_id limit 1)),
              updated_at = clock_timestamp()
        where c.id = $1 and c.status = 'received'
        returning c.id, c.partnership_id
     ), event as (${event.text}), job_done as (
       update outbox set done_at = clock_timestamp() where id = $2 and done_at is null
     )
     select count(*)::int as moved from placed`,
    event.values
  )
  return (rows[0]?.moved ?? 0) > 0
}
