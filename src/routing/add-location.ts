import type { Queryable } from '../db/pool.js'
import { eventsFrom, recordEvent, sql } from '../events/record.js'
import type { OutboxRow } from '../jobs/outbox-relay.js'

/**
 * A resident answers the question for a postcode (or sends one later) on a case that had
 * none. The postcode goes on the case; if routing had already sent the case to triage for
 * want of a location, the case goes back to 'received' with a new routing job, so it is
 * placed again by the same rules as any case. One statement: the case, its event and the
 * outbox row together. Returns the outbox row to relay, if the case is to be routed again.
 */
export async function addLocation(db: Queryable, caseId: number, postcode: string, actor: string): Promise<OutboxRow | null> {
  const event = eventsFrom(
    {
      from: 'located',
      caseId: sql('id'),
      type: 'case.location_added',
      actor,
      reason: sql(`'The resident sent the postcode ' || $2 || case when was = 'triage' then '; the case is placed again' else '' end`),
      data: { postcode }
    },
    [caseId, postcode]
  )
  const { rows } = await db.query<OutboxRow>({
    name: 'case-add-location',
    text: `with old as (
       select id, status from cases where id = $1 and postcode is null and status in ('received', 'triage') for update
     ), located as (
       update cases c
          set postcode = $2, status = 'received', triage_candidates = '{}', updated_at = clock_timestamp()
         from old where c.id = old.id
       returning c.id, old.status as was
     ), event as (${event.text})
     insert into outbox (topic, payload)
     select 'case:route', jsonb_build_object('case_id', id) from located where was = 'triage'
     returning id, topic, payload, job_key`,
    values: event.values
  })
  return rows[0] ?? null
}

/** Notes on the case that the resident was asked for a postcode (they are asked once). */
export async function recordLocationAsked(db: Queryable, caseId: number, actor: string): Promise<void> {
  await recordEvent(db, { caseId, type: 'resident.asked_for_location', actor, reason: 'Asked the resident for the postcode: the case cannot be placed without one' })
}
