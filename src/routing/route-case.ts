import type { Log } from '../logger.js'
import type { Db } from '../db/pool.js'
import { markOutboxDone, relayNow } from '../jobs/outbox-relay.js'
import type { Queues } from '../jobs/queues.js'
import type { Catalogue } from './catalogue.js'
import type { CoverageRow } from './locate.js'
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
  recipient: string | null
  coverage: CoverageRow[]
}

/**
 * Places one case and records why. The case is read, placed (in memory, plus a coverage
 * lookup), and the placement written in ONE statement, which Postgres runs atomically: the
 * case row, its two events, the delivery and its outbox row, and this job's outbox row
 * marked done. The write only takes effect while the case is still 'received' (the row
 * lock of the UPDATE orders two routings of the same case; the second finds it placed and
 * writes nothing), so routing a placed case again changes nothing.
 */
export async function routeCase(
  deps: { db: Db; catalogue: Catalogue; queues: Queues; log: Log },
  job: { caseId: number; outboxId: number }
): Promise<RouteOutcome> {
  // The case, the address it came to, and the coverage rows for its postcode (unit, sector
  // and outcode, derived from the stored 'LE10 0FR' or 'LE10' form) in one round trip.
  const found = await deps.db.query<CaseRow>({
    name: 'route-read-case',
    text: `select c.id, c.status, c.channel, c.requested_council_gss, c.requested_service_code, c.description,
                  c.postcode, c.lat, c.lng,
                  (select m.recipient from messages m where m.case_id = c.id order by m.id limit 1) as recipient,
                  (select coalesce(json_agg(json_build_object('kind', cv.kind, 'council_gss', cv.council_gss) order by cv.council_gss), '[]')
                     from coverage cv
                    where (cv.kind = 'unit' and strpos(c.postcode, ' ') > 0 and cv.area = c.postcode)
                       or (cv.kind = 'sector' and strpos(c.postcode, ' ') > 0 and cv.area = left(c.postcode, strpos(c.postcode, ' ') + 1))
                       or (cv.kind = 'outcode' and cv.area = split_part(c.postcode, ' ', 1))) as coverage
             from cases c where c.id = $1`,
    values: [job.caseId]
  })
  const row = found.rows[0]
  if (!row || row.status !== 'received') {
    await markOutboxDone(deps.db, job.outboxId)
    return row ? 'already_placed' : 'missing'
  }
  const placement = await placeCase(deps.db, deps.catalogue, {
    channel: row.channel,
    recipient: row.recipient,
    requestedCouncilGss: row.requested_council_gss,
    requestedServiceCode: row.requested_service_code,
    description: row.description,
    postcode: row.postcode,
    lat: row.lat,
    lng: row.lng,
    coverage: row.coverage
  })

  const isRouted = placement.kind === 'routed'
  const destination = placement.kind === 'routed' ? placement.destination : null
  const eventData =
    placement.kind === 'routed'
      ? { council_gss: placement.councilGss, team: destination?.team ?? null, destination_id: destination?.id ?? null, sla_hours: placement.slaHours }
      : { candidates: placement.candidates, partnership_id: placement.partnershipId }
  const written = await deps.db.query<{ placed: number; outbox_id: number | null; payload: Record<string, number> | null; job_key: string | null }>({
    name: 'route-write-placement',
    text: `with placed as (
       update cases
          set status = $2, service_code = $3, partnership_id = $4, council_gss = $5, team = $6,
              destination_id = $7::bigint, triage_candidates = $8::text[],
              sla_due_at = case when $2 = 'routed' then created_at + make_interval(hours => $9::int) end,
              routed_at = case when $2 = 'routed' then clock_timestamp() end,
              updated_at = clock_timestamp()
        where id = $1 and status = 'received'
        returning id
     ), events as (
       insert into case_events (case_id, type, actor, reason, data)
       select placed.id, e.type, 'worker:route', e.reason, e.data
         from placed,
              (values (1, 'case.service_chosen', $10::text, $11::jsonb), (2, $12::text, $13::text, $14::jsonb)) as e (n, type, reason, data)
        order by e.n
     ), delivery as (
       insert into deliveries (case_id, destination_id, kind)
       select placed.id, $7::bigint, $15::text from placed where $15::text is not null
       on conflict (case_id, destination_id) do nothing
       returning id
     ), deliver_outbox as (
       insert into outbox (topic, payload)
       select 'case:deliver', jsonb_build_object('delivery_id', delivery.id) from delivery
       returning id, payload, job_key
     ), job_done as (
       update outbox set done_at = clock_timestamp() where id = $16 and done_at is null
     )
     select (select count(*) from placed)::int as placed,
            (select id from deliver_outbox) as outbox_id,
            (select payload from deliver_outbox) as payload,
            (select job_key from deliver_outbox) as job_key`,
    values: [
      row.id,
      isRouted ? 'routed' : 'triage',
      placement.service.code,
      placement.partnershipId,
      placement.kind === 'routed' ? placement.councilGss : null,
      destination?.team ?? null,
      destination?.id ?? null,
      placement.kind === 'triage' ? placement.candidates : [],
      placement.kind === 'routed' ? placement.slaHours : null,
      placement.serviceReason,
      { service_code: placement.service.code },
      isRouted ? 'case.routed' : 'case.triaged',
      placement.reason,
      eventData,
      destination?.kind ?? null,
      job.outboxId
    ]
  })
  const result = written.rows[0]
  if (!result?.placed) return 'already_placed'
  if (result.outbox_id !== null && result.payload && result.job_key) {
    relayNow(deps.queues, { id: result.outbox_id, topic: 'case:deliver', payload: result.payload, job_key: result.job_key }, deps.log)
  }
  return isRouted ? 'routed' : 'triaged'
}
