import type { Queryable } from '../db/pool.js'

/** A case as a supervisor sees it, with its audit trail. */
export async function findCaseWithEvents(db: Queryable, reference: string) {
  const found = await db.query(
    `select c.reference, c.status, c.priority, c.channel, c.partnership_id, c.council_gss, co.name as council_name,
            c.service_code, c.team, c.postcode, c.lat, c.lng, c.triage_candidates, c.sla_due_at, c.created_at, c.routed_at, c.id
       from cases c left join councils co on co.gss = c.council_gss
      where c.reference = $1`,
    [reference]
  )
  const c = found.rows[0]
  if (!c) return null
  const events = await db.query(
    'select type, actor, reason, data, created_at from case_events where case_id = $1 order by id',
    [c.id]
  )
  const { id: _id, ...rest } = c
  return { ...rest, events: events.rows }
}

/** Cases waiting for a person to decide the council, oldest first. */
export async function listTriage(db: Queryable, partnershipId: string | null, limit: number) {
  const { rows } = await db.query(
    `select c.reference, c.partnership_id, c.service_code, c.postcode, c.triage_candidates, c.created_at,
            (select reason from case_events e where e.case_id = c.id and e.type = 'case.triaged' order by e.id desc limit 1) as reason
       from cases c
      where c.status = 'triage' and ($1::text is null or c.partnership_id = $1)
      order by c.created_at
      limit $2`,
    [partnershipId, limit]
  )
  return rows
}

/** Deliveries in one state, most recently changed first, with where they were going. */
export async function listDeliveries(db: Queryable, state: string, limit: number) {
  const { rows } = await db.query(
    `select d.public_id as id, c.reference as case_reference, d.state, d.kind, d.attempts, d.last_status, d.last_error,
            dest.council_gss, dest.team, coalesce(dest.webhook_url, dest.email) as target, d.created_at, d.updated_at
       from deliveries d
       join cases c on c.id = d.case_id
       join destinations dest on dest.id = d.destination_id
      where d.state = $1
      order by d.updated_at desc
      limit $2`,
    [state, limit]
  )
  return rows
}

/**
 * Routed cases that no back office will receive: their council has no destination for the
 * service, nor a default one. Nothing will deliver them until an operator configures one
 * or a person hands them on; oldest first.
 */
export async function listCasesWithoutDestination(db: Queryable, limit: number) {
  const { rows } = await db.query(
    `select c.reference, c.partnership_id, c.council_gss, co.name as council_name, c.service_code, c.routed_at, c.sla_due_at
       from cases c left join councils co on co.gss = c.council_gss
      where c.status = 'routed' and c.destination_id is null
      order by c.routed_at
      limit $1`,
    [limit]
  )
  return rows
}
