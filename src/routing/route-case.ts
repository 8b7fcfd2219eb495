import type { Log } from '../logger.js'
import type { Db } from '../db/pool.js'
import type { EventData } from '../events/catalogue.js'
import { eventsFrom, sql } from '../events/record.js'
import { relayNow } from '../jobs/outbox-relay.js'
import type { Queues } from '../jobs/queues.js'
import type { HandOff } from '../delivery/hand-off.js'
import type { Catalogue } from '../catalogue/catalogue.js'
import type { CoverageRow } from './locate.js'
import { placeCase, type Placement } from './place-case.js'
import type { ClockTimes } from '../sla/clocks.js'

export type RouteOutcome = 'routed' | 'triaged' | 'already_placed' | 'missing'

/** What routing needs; with `handOff`, new deliveries go straight to delivery in this process instead of through a case:deliver job. */
export interface RouteDeps {
  db: Db
  catalogue: Catalogue
  queues: Queues
  log: Log
  handOff?: HandOff
}

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
  coverage: CoverageRow[]
}

/** One case:route job: the case and the outbox row that asked for it. */
export interface RouteJobRef {
  caseId: number
  outboxId: number
}

/** A case's placement as the batch write takes it: one element of the statement's JSON. */
interface PlacementRow {
  ord: number
  case_id: number
  status: 'routed' | 'triage'
  service_code: string
  partnership_id: string | null
  council_gss: string | null
  team: string | null
  destination_id: number | null
  candidates: string[]
  sla_hours: number | null
  service_reason: string
  service_data: EventData<'case.service_chosen'>
  event_type: 'case.routed' | 'case.triaged'
  reason: string
  event_data: EventData<'case.routed' | 'case.triaged'>
  kind: string | null
  /** the SLA clocks are set with the placement (false: the SLA worker's pass sets them) */
  clocks: boolean
  fr_due: Date | null
  fr_warn: Date | null
  res_due: Date | null
  res_warn: Date | null
}

/**
 * Places one case and records why: routeCases with a batch of one.
 */
export async function routeCase(deps: RouteDeps, job: RouteJobRef): Promise<RouteOutcome> {
  const [outcome] = await routeCases(deps, [job])
  return outcome!
}

/**
 * Places a batch of cases and records why, in two statements whatever the batch's size:
 * one reads every case with the address it came to and its postcode's coverage rows (unit,
 * sector and outcode); each is placed in memory (placeCase, the same decision and reasons
 * as one at a time); one writes them all, atomically: the case rows (with their SLA clocks,
 * so a placed case is not written a second time to start them), two events each, the
 * deliveries and their outbox rows, and every job's outbox row marked done. Once committed,
 * the new deliveries are handed to `deps.handOff` (delivery in this process) or, without
 * one, to the case:deliver queue. A case is
 * written only while it is still 'received' (its row lock orders two routings of the same
 * case; the second finds it placed and writes nothing), so routing a placed case again, or
 * the same case twice in one batch, changes nothing. Returns an outcome per job, in order.
 */
export async function routeCases(deps: RouteDeps, jobs: RouteJobRef[]): Promise<RouteOutcome[]> {
  if (!jobs.length) return []
  const caseIds = [...new Set(jobs.map((j) => j.caseId))]
  const found = await deps.db.query<CaseRow>({
    name: 'route-read-cases',
    text: `select c.id, c.status, c.channel, c.requested_council_gss, c.requested_service_code, c.description,
                  c.postcode, c.lat, c.lng, c.created_at,
                  (select m.recipient from messages m where m.case_id = c.id order by m.id limit 1) as recipient,
                  (select coalesce(json_agg(json_build_object('kind', cv.kind, 'council_gss', cv.council_gss) order by cv.council_gss), '[]')
                     from coverage cv
                    where (cv.kind = 'unit' and strpos(c.postcode, ' ') > 0 and cv.area = c.postcode)
                       or (cv.kind = 'sector' and strpos(c.postcode, ' ') > 0 and cv.area = left(c.postcode, strpos(c.postcode, ' ') + 1))
                       or (cv.kind = 'outcode' and cv.area = split_part(c.postcode, ' ', 1))) as coverage
             from cases c where c.id = any($1::bigint[])`,
    values: [caseIds]
  })
  const byId = new Map(found.rows.map((r) => [Number(r.id), r]))

  // Each case is placed once, by the first of its jobs; a second job for the same case in
  // this batch is a duplicate and finds it placed.
  const placements: PlacementRow[] = []
  const placer = new Map<number, RouteJobRef>()
  for (const job of jobs) {
    const row = byId.get(job.caseId)
    if (!row || row.status !== 'received' || placer.has(job.caseId)) continue
    placer.set(job.caseId, job)
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
    const clocks = placement.kind === 'routed' ? deps.catalogue.slaClocks(placement.councilGss, placement.service.code, row.created_at) : null
    placements.push(placementRow(placements.length, job.caseId, placement, clocks))
  }

  // each placed case's two events, in order: its service, then where it went (PlacementRow)
  const events = eventsFrom(
    {
      from: `p join placed on placed.id = p.case_id
             cross join lateral (values (1, 'case.service_chosen', p.service_reason, p.service_data), (2, p.event_type, p.reason, p.event_data)) as e (n, type, reason, data)
            order by p.ord, e.n`,
      caseId: sql('p.case_id'),
      type: sql<'case.service_chosen' | PlacementRow['event_type']>('e.type'),
      actor: 'worker:route',
      reason: sql('e.reason'),
      data: sql<EventData<'case.service_chosen' | PlacementRow['event_type']>>('e.data')
    },
    // the case ids again as an array: the planner knows nothing of a JSON record set's rows,
    // and without them it may join by scanning the whole cases table
    [JSON.stringify(placements), jobs.map((j) => j.outboxId), placements.map((p) => p.case_id)]
  )

  // One statement: the cases (locked in id order first, so two batches sharing a case cannot
  // deadlock), their events in order, deliveries with their outbox rows, every job done. The
  // lock is 'no key update', as the update itself takes: it orders two routings of a case but
  // lets others add a row that refers to the case meanwhile (an event, a message: their foreign
  // key check takes a key-share lock, which 'for update' would have kept waiting for the batch).
  const written = placements.length
    ? await deps.db.query<{ placed: string[]; outbox: Array<{ id: number; payload: Record<string, number>; job_key: string; destination_id: number }> }>({
        name: 'route-write-placements',
        text: `with p as (
           select * from jsonb_to_recordset($1::jsonb) as x (
             ord int, case_id bigint, status text, service_code text, partnership_id text, council_gss text, team text,
             destination_id bigint, candidates text[], sla_hours int, service_reason text, service_data jsonb,
             event_type text, reason text, event_data jsonb, kind text,
             clocks boolean, fr_due timestamptz, fr_warn timestamptz, res_due timestamptz, res_warn timestamptz)
         ), locked as (
           select c.id from cases c where c.id = any($3::bigint[]) and c.status = 'received' order by c.id for no key update
         ), placed as (
           update cases c
              set status = p.status, service_code = p.service_code, partnership_id = p.partnership_id, council_gss = p.council_gss,
                  team = p.team, destination_id = p.destination_id, triage_candidates = p.candidates,
                  sla_due_at = case when p.status = 'routed' then c.created_at + make_interval(hours => p.sla_hours) end,
                  routed_at = case when p.status = 'routed' then clock_timestamp() end,
                  sla_clocks_at = case when p.clocks and c.sla_clocks_at is null then clock_timestamp() else c.sla_clocks_at end,
                  first_response_due_at = case when p.clocks and c.sla_clocks_at is null then p.fr_due else c.first_response_due_at end,
                  first_response_warn_at = case when p.clocks and c.sla_clocks_at is null then p.fr_warn else c.first_response_warn_at end,
                  resolution_due_at = case when p.clocks and c.sla_clocks_at is null then p.res_due else c.resolution_due_at end,
                  resolution_warn_at = case when p.clocks and c.sla_clocks_at is null then p.res_warn else c.resolution_warn_at end,
                  updated_at = clock_timestamp()
             from p
            where c.id = p.case_id and c.id = any($3::bigint[]) and c.id in (select id from locked) and c.status = 'received'
           returning c.id
         ), events as (${events.text}), delivery as (
           insert into deliveries (case_id, destination_id, kind)
           select p.case_id, p.destination_id, p.kind from p join placed on placed.id = p.case_id
            where p.kind is not null
            order by p.ord
           on conflict (case_id, destination_id) do nothing
           returning id, destination_id
         ), deliver_outbox as (
           insert into outbox (topic, payload)
           select 'case:deliver', jsonb_build_object('delivery_id', delivery.id) from delivery order by delivery.id
           returning id, payload, job_key
         ), jobs_done as (
           update outbox set done_at = clock_timestamp() where id = any($2::bigint[]) and done_at is null
         )
         select (select coalesce(array_agg(id), '{}') from placed) as placed,
                (select coalesce(json_agg(json_build_object('id', o.id, 'payload', o.payload, 'job_key', o.job_key, 'destination_id', d.destination_id) order by o.id), '[]')
                   from deliver_outbox o join delivery d on d.id = (o.payload->>'delivery_id')::bigint) as outbox`,
        values: events.values
      })
    : await deps.db.query<{ placed: string[]; outbox: [] }>({
        name: 'route-jobs-done',
        text: `update outbox set done_at = clock_timestamp() where id = any($1::bigint[]) and done_at is null returning '{}'::bigint[] as placed, '[]'::json as outbox`,
        values: [jobs.map((j) => j.outboxId)]
      })
  const result = written.rows[0] ?? { placed: [], outbox: [] }
  const deliveries = result.outbox.map((o) => ({
    deliveryId: Number(o.payload.delivery_id),
    destinationId: Number(o.destination_id),
    outbox: { id: o.id, topic: 'case:deliver' as const, payload: o.payload, job_key: o.job_key }
  }))
  if (deps.handOff) deps.handOff(deliveries)
  else for (const d of deliveries) relayNow(deps.queues, d.outbox, deps.log)

  const placed = new Set(result.placed.map(Number))
  const statusOf = new Map(placements.map((p) => [p.case_id, p.status]))
  return jobs.map((job) => {
    if (!byId.has(job.caseId)) return 'missing'
    if (placer.get(job.caseId) !== job || !placed.has(job.caseId)) return 'already_placed'
    return statusOf.get(job.caseId) === 'routed' ? 'routed' : 'triaged'
  })
}

function placementRow(ord: number, caseId: number, placement: Placement, clocks: ClockTimes | null): PlacementRow {
  const routed = placement.kind === 'routed'
  const destination = placement.kind === 'routed' ? placement.destination : null
  return {
    ord,
    case_id: caseId,
    status: routed ? 'routed' : 'triage',
    service_code: placement.service.code,
    partnership_id: placement.partnershipId,
    council_gss: placement.kind === 'routed' ? placement.councilGss : null,
    team: destination?.team ?? null,
    destination_id: destination?.id ?? null,
    candidates: placement.kind === 'triage' ? placement.candidates : [],
    sla_hours: placement.kind === 'routed' ? placement.slaHours : null,
    service_reason: placement.serviceReason,
    service_data: { service_code: placement.service.code },
    event_type: routed ? 'case.routed' : 'case.triaged',
    reason: placement.reason,
    event_data:
      placement.kind === 'routed'
        ? { council_gss: placement.councilGss, team: destination?.team ?? null, destination_id: destination?.id ?? null, sla_hours: placement.slaHours }
        : { candidates: placement.candidates, partnership_id: placement.partnershipId },
    kind: destination?.kind ?? null,
    clocks: clocks !== null,
    fr_due: clocks?.firstResponseDue ?? null,
    fr_warn: clocks?.firstResponseWarn ?? null,
    res_due: clocks?.resolutionDue ?? null,
    res_warn: clocks?.resolutionWarn ?? null
  }
}
