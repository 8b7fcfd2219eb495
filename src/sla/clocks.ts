import type { Queryable } from '../db/pool.js'
import type { EventData } from '../events/catalogue.js'
import { eventsFrom, sql } from '../events/record.js'
import { holidaysOf } from './bank-holidays.js'
import { addBusinessHours, businessHoursBetween, minutesOf, type BusinessCalendar } from './business-hours.js'

/** The two promises made to a resident: a first answer, and the case resolved. */
export type SlaClock = 'first_response' | 'resolution'

/** A warning comes when this share of the target time is left. */
export const WARN_SHARE = 0.2

/** The most cases one pass sets clocks for, or raises events on. */
export const SLA_BATCH = 500

/** A council's targets for a service, in business hours. */
export interface SlaTarget {
  firstResponseHours: number
  resolutionHours: number
}

/** When each clock of a case falls due, and when it warns (a fifth of the time left); null: no clock. */
export interface ClockTimes {
  firstResponseDue: Date | null
  firstResponseWarn: Date | null
  resolutionDue: Date | null
  resolutionWarn: Date | null
}

/**
 * A case's clocks, counted from when the resident contacted us in the council's business
 * hours. No target, or no calendar (a council unknown), means no clocks. Used by routing,
 * which sets the clocks in the statement that places a case, and by setClocks for the cases
 * routing left without.
 */
export function clockTimes(contactedAt: Date, target: SlaTarget | null, cal: BusinessCalendar | null): ClockTimes {
  const at = (hours: number) => (cal && target ? addBusinessHours(contactedAt, hours, cal) : null)
  return {
    firstResponseDue: target && at(target.firstResponseHours),
    firstResponseWarn: target && at(target.firstResponseHours * (1 - WARN_SHARE)),
    resolutionDue: target && at(target.resolutionHours),
    resolutionWarn: target && at(target.resolutionHours * (1 - WARN_SHARE))
  }
}

interface Unset {
  id: number
  created_at: Date
  first_response_hours: number | null
  resolution_hours: number | null
  calendar: string | null
  business_days: number[] | null
  opens: string | null
  closes: string | null
  time_zone: string | null
}

/**
 * Sets both clocks of placed cases that have none yet, counted from when the resident
 * contacted us (created_at) in the council's business hours: the target for the case's
 * service, else the council's default. Routing sets the clocks as it places a case; this
 * pass is for the cases it left without: placed while the routing catalogue had no holidays
 * for the council's calendar, or by an earlier version during an upgrade. A case with no
 * target is marked as seen, with no clock. Returns how many cases were looked at (SLA_BATCH
 * or more means there may be more).
 */
export async function setClocks(db: Queryable, opts: { now?: Date; limit?: number } = {}): Promise<number> {
  const { rows } = await db.query<Unset>({
    name: 'sla-unset',
    text: `select c.id, c.created_at, t.first_response_hours, t.resolution_hours, co.calendar, co.business_days,
                  co.business_opens::text as opens, co.business_closes::text as closes, co.business_time_zone as time_zone
             from cases c
             left join councils co on co.gss = c.council_gss
             left join lateral (
               select first_response_hours, resolution_hours from sla_targets t
                where t.council_gss = c.council_gss and (t.service_code = c.service_code or t.service_code is null)
                order by t.service_code nulls last limit 1
             ) t on true
            where c.sla_clocks_at is null and c.routed_at is not null
            order by c.id
            limit $1`,
    values: [opts.limit ?? SLA_BATCH]
  })
  if (!rows.length) return 0
  const holidays = await holidaysOf(db, [...new Set(rows.flatMap((r) => (r.calendar ? [r.calendar] : [])))])
  const ids: number[] = []
  const due: (Date | null)[][] = [[], [], [], []]
  for (const r of rows) {
    const cal: BusinessCalendar | null =
      r.time_zone && r.business_days && r.opens && r.closes
        ? { timeZone: r.time_zone, days: r.business_days, opensMinute: minutesOf(r.opens), closesMinute: minutesOf(r.closes), holidays: holidaysFor(holidays, r.calendar) }
        : null
    const target = r.first_response_hours !== null && r.resolution_hours !== null ? { firstResponseHours: r.first_response_hours, resolutionHours: r.resolution_hours } : null
    const t = clockTimes(r.created_at, target, cal)
    ids.push(r.id)
    ;[t.firstResponseDue, t.firstResponseWarn, t.resolutionDue, t.resolutionWarn].forEach((at, i) => due[i]!.push(at))
  }
  // the guard on sla_clocks_at lets two workers race harmlessly: the second changes nothing
  await db.query({
    name: 'sla-set',
    text: `update cases c
              set sla_clocks_at = $6, first_response_due_at = v.fr_due, first_response_warn_at = v.fr_warn,
                  resolution_due_at = v.res_due, resolution_warn_at = v.res_warn
             from unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[])
                  as v (id, fr_due, fr_warn, res_due, res_warn)
            where c.id = v.id and c.sla_clocks_at is null`,
    values: [ids, due[0], due[1], due[2], due[3], opts.now ?? new Date()]
  })
  return rows.length
}

function holidaysFor(byCalendar: Map<string, Set<string>>, calendar: string | null): Set<string> {
  return (calendar && byCalendar.get(calendar)) || new Set()
}

/** An event a pass raised. */
export interface SlaEvent {
  eventId: number
  caseId: number
  type: 'sla.warning' | 'sla.breached'
  clock: SlaClock
  dueAt: Date
}

/**
 * One pass over running clocks, as one statement: cases whose first response (none given
 * yet) or resolution (not resolved or closed) has a fifth of its time left get `sla.warning`,
 * those past due `sla.breached` (escalated to supervisors, who hear it on the live view).
 * A resolution clock paused while the case waits on the resident (src/sla/sql/pause.sql),
 * or resumed and not yet moved on by resumeClocks, neither warns nor breaches.
 * Each clock's mark is set in the statement that writes its event, so each event is raised
 * once per clock and case, however many workers run passes; a clock first seen past due is
 * breached without a warning. Returns the events raised.
 */
export async function checkClocks(db: Queryable, opts: { now?: Date; limit?: number } = {}): Promise<SlaEvent[]> {
  // each marked case's clocks that fire, in order: a warning or a breach, with its reason in words
  const events = eventsFrom(
    {
      from: `marked m
       left join councils co on co.gss = m.council_gss
       cross join lateral (values
         (1, m.fr_warn, 'sla.warning', 'first_response', m.first_response_due_at),
         (2, m.fr_breach, 'sla.breached', 'first_response', m.first_response_due_at),
         (3, m.res_warn, 'sla.warning', 'resolution', m.resolution_due_at),
         (4, m.res_breach, 'sla.breached', 'resolution', m.resolution_due_at)
       ) as v (n, fire, type, clock, due_at)
      where v.fire
      order by m.id, v.n`,
      caseId: sql('m.id'),
      type: sql<SlaEvent['type']>('v.type'),
      actor: 'worker:sla',
      reason: sql(`format(case v.type || ':' || v.clock
                     when 'sla.warning:first_response' then 'No first response yet, with a fifth of the time allowed left: due by %s'
                     when 'sla.breached:first_response' then 'No first response by %s, when it was due; escalated to supervisors'
                     when 'sla.warning:resolution' then 'Not resolved yet, with a fifth of the time allowed left: due by %s'
                     else 'Not resolved by %s, when it was due; escalated to supervisors'
                   end,
                   to_char(v.due_at at time zone coalesce(co.business_time_zone, 'Europe/London'), 'FMDay FMDD FMMonth YYYY "at" HH24:MI'))`),
      data: sql<EventData<SlaEvent['type']>>(`jsonb_build_object('clock', v.clock, 'due_at', to_char(v.due_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
              || case when v.type = 'sla.breached' then jsonb_build_object('escalated_to', 'supervisor') else '{}'::jsonb end`)
    },
    [opts.now ?? new Date(), opts.limit ?? SLA_BATCH]
  )
  const { rows } = await db.query<{ id: number; case_id: number; type: SlaEvent['type']; clock: SlaClock; due_at: Date }>({
    name: 'sla-check',
    text: `with due as (
       select c.id,
              coalesce(c.first_response_at is null and c.first_response_breached_at is null
                       and c.first_response_due_at <= $1::timestamptz, false) as fr_breach,
              coalesce(c.first_response_at is null and c.first_response_breached_at is null and c.first_response_warned_at is null
                       and c.first_response_warn_at <= $1 and c.first_response_due_at > $1, false) as fr_warn,
              coalesce(c.work_status not in ('resolved', 'closed') and c.resolution_breached_at is null and c.resolution_paused_at is null
                       and c.resolution_due_at <= $1, false) as res_breach,
              coalesce(c.work_status not in ('resolved', 'closed') and c.resolution_breached_at is null and c.resolution_warned_at is null and c.resolution_paused_at is null
                       and c.resolution_warn_at <= $1 and c.resolution_due_at > $1, false) as res_warn
         from cases c
        where c.merged_into is null
          and ((c.first_response_at is null and c.first_response_breached_at is null and c.first_response_warn_at <= $1
                and (c.first_response_warned_at is null or c.first_response_due_at <= $1))
            or (c.work_status not in ('resolved', 'closed') and c.resolution_breached_at is null and c.resolution_paused_at is null and c.resolution_warn_at <= $1
                and (c.resolution_warned_at is null or c.resolution_due_at <= $1)))
        order by c.id
        limit $2
        for update of c skip locked
     ), marked as (
       update cases c
          set first_response_warned_at = case when d.fr_warn then $1 else c.first_response_warned_at end,
              first_response_breached_at = case when d.fr_breach then $1 else c.first_response_breached_at end,
              resolution_warned_at = case when d.res_warn then $1 else c.resolution_warned_at end,
              resolution_breached_at = case when d.res_breach then $1 else c.resolution_breached_at end
         from due d
        where c.id = d.id
       returning c.id, c.council_gss, c.first_response_due_at, c.resolution_due_at, d.fr_warn, d.fr_breach, d.res_warn, d.res_breach
     )
     ${events.text}
     returning id, case_id, type, data->>'clock' as clock, (data->>'due_at')::timestamptz as due_at`,
    values: events.values
  })
  return rows.map((r) => ({ eventId: r.id, caseId: r.case_id, type: r.type, clock: r.clock, dueAt: r.due_at }))
}

interface Resumed {
  id: number
  /** resumed_at as Postgres wrote it, to the microsecond: the guard against a new pause */
  resumed_key: string
  paused_at: Date
  resumed_at: Date
  resolution_due_at: Date
  resolution_warn_at: Date | null
  resolution_warned_at: Date | null
  calendar: string | null
  business_days: number[] | null
  opens: string | null
  closes: string | null
  time_zone: string | null
}

/**
 * Moves on the resolution clocks of cases back from waiting on the resident (paused and
 * resumed by src/sla/sql/pause.sql): the working time that was left at the pause, until the
 * due time and until the warning (if not given yet), now counts from the resumption. Records
 * `sla.resumed` with the new due time. The guard on resolution_resumed_at leaves alone a
 * case that has paused again meanwhile. Returns how many clocks were moved on.
 */
export async function resumeClocks(db: Queryable, opts: { limit?: number } = {}): Promise<number> {
  const { rows } = await db.query<Resumed>({
    name: 'sla-resumed',
    text: `select c.id, c.resolution_paused_at as paused_at, c.resolution_resumed_at as resumed_at, c.resolution_resumed_at::text as resumed_key, c.resolution_due_at,
                  c.resolution_warn_at, c.resolution_warned_at, co.calendar, co.business_days,
                  co.business_opens::text as opens, co.business_closes::text as closes, co.business_time_zone as time_zone
             from cases c left join councils co on co.gss = c.council_gss
            where c.resolution_resumed_at is not null
            order by c.resolution_resumed_at limit $1`,
    values: [opts.limit ?? SLA_BATCH]
  })
  if (!rows.length) return 0
  const holidays = await holidaysOf(db, [...new Set(rows.flatMap((r) => (r.calendar ? [r.calendar] : [])))])
  const moved = rows.map((r) => {
    const cal: BusinessCalendar =
      r.time_zone && r.business_days && r.opens && r.closes
        ? { timeZone: r.time_zone, days: r.business_days, opensMinute: minutesOf(r.opens), closesMinute: minutesOf(r.closes), holidays: holidaysFor(holidays, r.calendar) }
        : { timeZone: 'Europe/London', days: [1, 2, 3, 4, 5], opensMinute: 540, closesMinute: 1020, holidays: new Set<string>() }
    const left = businessHoursBetween(r.paused_at, r.resolution_due_at, cal)
    const due = addBusinessHours(r.resumed_at, left, cal)
    const warnLeft = r.resolution_warned_at === null && r.resolution_warn_at && r.resolution_warn_at > r.paused_at ? businessHoursBetween(r.paused_at, r.resolution_warn_at, cal) : null
    return {
      id: r.id,
      resumed_key: r.resumed_key,
      resumed_at: r.resumed_at.toISOString(),
      due_at: due.toISOString(),
      warn_at: warnLeft === null ? r.resolution_warn_at?.toISOString() ?? null : addBusinessHours(r.resumed_at, warnLeft, cal).toISOString(),
      paused_at: r.paused_at.toISOString(),
      paused_hours: Math.round(businessHoursBetween(r.paused_at, r.resumed_at, cal) * 100) / 100
    }
  })
  const event = eventsFrom(
    {
      from: 'done d',
      caseId: sql('d.id'),
      type: 'sla.resumed',
      actor: 'worker:sla',
      reason: sql(`format('Resolution clock resumed after waiting on the resident (%s working hours paused): now due by %s',
                          d.paused_hours, to_char(d.due_at at time zone 'Europe/London', 'FMDay FMDD FMMonth YYYY "at" HH24:MI'))`),
      data: sql<EventData<'sla.resumed'>>(`jsonb_build_object('clock', 'resolution', 'due_at', to_char(d.due_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                         'paused_at', d.paused_at, 'resumed_at', d.resumed_at, 'paused_business_hours', d.paused_hours)`)
    },
    [JSON.stringify(moved)]
  )
  const done = await db.query({
    name: 'sla-resume',
    text: `with v as (
             select * from jsonb_to_recordset($1::jsonb) as x (id bigint, resumed_key text, resumed_at timestamptz, due_at timestamptz, warn_at timestamptz, paused_at text, paused_hours numeric)
           ), done as (
             update cases c
                set resolution_due_at = v.due_at, resolution_warn_at = v.warn_at, resolution_paused_at = null, resolution_resumed_at = null
               from v
              where c.id = v.id and c.resolution_resumed_at::text = v.resumed_key
             returning c.id, v.due_at, v.paused_at, v.resumed_at, v.paused_hours
           )
           ${event.text}`,
    values: event.values
  })
  return done.rowCount ?? 0
}
