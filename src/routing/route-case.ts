import type { Log } from '../logger.js'
import { withTransaction, type Db } from '../db/pool.js'
import { markOutboxDone, relayNow, type OutboxRow } from '../jobs/outbox-relay.js'
import type { Queues } from '../jobs/queues.js'
import type { Catalogue } from './catalogue.js'
import { placeCase } from './place-case.js'

export type RouteOutcome = 'routed' | 'triaged' | 'already_placed' | 'missing'

interface CaseRow {
  id: number
  status: string
  channel: string
  requested_council_gss: string | null
  requested_service_code: string | null
  description: string
  postcode: string | null
  lat: number | null
  lng: number | null
  created_at: Date
  recipient: string | null
}

/**
 * Places one case and records why, in one transaction: the case row, its events, the
 * delivery and its outbox row, and this job's outbox row marked done. A case that is no
 * longer 'received' has been placed already; routing it again changes nothing.
 */
export async function routeCase(
  deps: { db: Db; catalogue: Catalogue; queues: Queues; log: Log },
  job: { caseId: number; outboxId: number }
): Promise<RouteOutcome> {
  let deliverRow: OutboxRow | null = null
  const outcome = await withTransaction(deps.db, async (tx): Promise<RouteOutcome> => {
    const found = await tx.query<CaseRow>(
      `select c.id, c.status, c.channel, c.requested_council_gss, c.requested_service_code, c.description,
              c.postcode, c.lat, c.lng, c.created_at,
              (select m.recipient from messages m where m.case_id = c.id order by m.id limit 1) as recipient
         from cases c where c.id = $1 for update`,
      [job.caseId]
    )
    const row = found.rows[0]
    if (!row || row.status !== 'received') {
      await markOutboxDone(tx, job.outboxId)
      return row ? 'already_placed' : 'missing'
    }
    const placement = await placeCase(tx, deps.catalogue, {
      channel: row.channel,
      recipient: row.recipient,
      requestedCouncilGss: row.requested_council_gss,
      requestedServiceCode: row.requested_service_code,
      description: row.description,
      postcode: row.postcode,
      lat: row.lat,
      lng: row.lng
    })

    if (placement.kind === 'triage') {
      await tx.query(
        `update cases set status = 'triage', service_code = $2, partnership_id = $3, triage_candidates = $4,
                          updated_at = clock_timestamp()
          where id = $1`,
        [row.id, placement.service.code, placement.partnershipId, placement.candidates]
      )
    } else {
      await tx.query(
        `update cases set status = 'routed', service_code = $2, partnership_id = $3, council_gss = $4,
                          team = $5, destination_id = $6,
                          sla_due_at = created_at + make_interval(hours => $7),
                          routed_at = clock_timestamp(), updated_at = clock_timestamp()
          where id = $1`,
        [row.id, placement.service.code, placement.partnershipId, placement.councilGss, placement.destination?.team ?? null, placement.destination?.id ?? null, placement.slaHours]
      )
    }
    const routedData =
      placement.kind === 'routed'
        ? { council_gss: placement.councilGss, team: placement.destination?.team ?? null, destination_id: placement.destination?.id ?? null, sla_hours: placement.slaHours }
        : { candidates: placement.candidates, partnership_id: placement.partnershipId }
    await tx.query(
      `insert into case_events (case_id, type, actor, reason, data) values
         ($1, 'case.service_chosen', 'worker:route', $2, $3),
         ($1, $4, 'worker:route', $5, $6)`,
      [
        row.id,
        placement.serviceReason,
        { service_code: placement.service.code },
        placement.kind === 'routed' ? 'case.routed' : 'case.triaged',
        placement.reason,
        routedData
      ]
    )
    if (placement.kind === 'routed' && placement.destination) {
      const created = await tx.query<{ id: number; topic: 'case:deliver'; payload: Record<string, number> }>(
        `with d as (
           insert into deliveries (case_id, destination_id, kind) values ($1, $2, $3)
           on conflict (case_id, destination_id) do nothing
           returning id
         )
         insert into outbox (topic, payload) select 'case:deliver', jsonb_build_object('delivery_id', d.id) from d
         returning id, topic, payload`,
        [row.id, placement.destination.id, placement.destination.kind]
      )
      deliverRow = created.rows[0] ?? null
    }
    await markOutboxDone(tx, job.outboxId)
    return placement.kind === 'routed' ? 'routed' : 'triaged'
  })
  if (deliverRow) relayNow(deps.queues, deliverRow, deps.log)
  return outcome
}
