import { withTransaction, type Db } from '../db/pool.js'

/**
 * The supervisors' report over a partnership's cases opened in a date range, grouped by one
 * dimension, with a total: volume; first response and resolution times (median and 90th
 * percentile) in each council's business hours; SLA targets met; reopen rate; satisfaction.
 * Two statements in one transaction (each council's working days, then the report itself),
 * from the cases and their events:
 *
 * - resolved and reopened: as the case's events tell it, kept per case by a trigger on them
 *   (case_outcomes, src/reports/sql/outcomes.sql): the first `case.work_status_changed` to
 *   resolved; a resolved or closed case opened again by an agent, or by the resident writing;
 * - business hours: each council's working days over the range are laid out with the working
 *   seconds before each (its opening hours, its days, its calendar's bank holidays, in its own
 *   zone), so a case's working time between two instants is two look-ups and a subtraction,
 *   not a walk over the days;
 * - SLA met: of the cases with a target, those that have breached neither (so far);
 * - CSAT: the ratings given (csat_surveys), their average, and the share of 4s and 5s.
 */

export const REPORT_DIMENSIONS = ['council', 'service', 'channel', 'team', 'agent'] as const
export type ReportDimension = (typeof REPORT_DIMENSIONS)[number]

export interface ReportRow {
  /** the council's GSS code, service code, channel, team id or agent id; null: none (e.g. not placed); the total's is 'all' */
  key: string | null
  label: string
  volume: number
  first_response_median_hours: number | null
  first_response_p90_hours: number | null
  resolution_median_hours: number | null
  resolution_p90_hours: number | null
  resolved: number
  sla_met_pct: number | null
  reopen_rate_pct: number | null
  csat_responses: number
  csat_average: number | null
  csat_satisfied_pct: number | null
}

export interface CaseReport {
  from: string
  to: string
  by: ReportDimension
  rows: ReportRow[]
  total: ReportRow
}

// SQL fragments are written in backquotes, as the SQL they are (not names of events or things)
const KEY: Record<ReportDimension, string> = {
  council: `p.council_gss`,
  service: `p.service_code`,
  channel: `p.channel`,
  team: `p.team_id::text`,
  agent: `p.assigned_agent_id::text`
}

const LABEL: Record<ReportDimension, string> = {
  council: `(select name from councils where gss = r.key)`,
  service: `(select name from services where code = r.key)`,
  channel: `r.key`,
  team: `(select name from teams where id = r.key::bigint)`,
  agent: `(select coalesce(display_name, email) from agents where id = r.key::bigint)`
}

/**
 * Working seconds of the case's council, from the start of the calendar up to instant `t` (a
 * column): the seconds before its day, and what of that day's opening hours had passed (a day
 * off opens for 0 s). The calendar is in parameters: $6 seconds before each day, $7 each
 * day's opening (epoch s), $8 its length; each council's run of days starts at its `base`
 * (k), from $9, the epoch of the day before the range. Null when `t` is (no reply yet, not
 * resolved) or the case has no council.
 *
 * The day is looked up by UTC date, not local date: a time-zone conversion per instant was
 * most of the report's time. It is exact wherever local midnight and UTC midnight both fall
 * outside opening hours (an instant between two days' openings has worked the same whichever
 * of the two it is counted on), as for every council in the UK (UTC or UTC+1, opening after
 * 01:00).
 */
const workedBy = (t: string) => {
  const e = `date_part('epoch', ${t})`
  const i = `(k.base + floor((${e} - $9::float8) / 86400)::int + 1)`
  return `(($6::float8[])[${i}] + greatest(0, least(${e} - ($7::float8[])[${i}], ($8::float8[])[${i}])))`
}

/** The report of cases opened from `from` (inclusive) to `to` (exclusive), grouped `by`. */
export async function caseReport(db: Db, partnershipId: string, from: Date, to: Date, by: ReportDimension): Promise<CaseReport> {
  const rows = await withTransaction(db, async (tx) => {
    // for these statements only: the sorts (the percentiles) in memory rather than on disk,
    // the scans and joins shared with parallel workers, and no JIT, whose compiling took
    // longer than the query it was for
    await tx.query(
      `set local work_mem = '128MB'; set local jit = off; set local parallel_setup_cost = 100; set local parallel_tuple_cost = 0.01; set local min_parallel_table_scan_size = '1MB'`
    )
    // each council's days over the range (and up to today, for late resolutions), as arrays
    // indexed by day (1: the day before the range), all councils end to end: given to the
    // report as parameters, a case's look-up is a subscript that parallel workers can do
    const { rows: cal } = await tx.query<{ gss: string; before_s: number[]; opens: number[]; lengths: number[] }>(
      `with days as (
         select co.gss, d::date as day,
                extract(isodow from d)::int = any (co.business_days) and h.day is null as working,
                (d::date + co.business_opens) at time zone co.business_time_zone as opens_at,
                (d::date + co.business_closes) at time zone co.business_time_zone as closes_at
           from partnership_members pm
           join councils co on co.gss = pm.council_gss
          cross join generate_series($2::date - 1, greatest($3::date, now()::date) + 1, interval '1 day') as d
           left join bank_holidays h on h.calendar = co.calendar and h.day = d::date
          where pm.partnership_id = $1
       )
       select gss, array_agg(before_s order by day) as before_s, array_agg(date_part('epoch', opens_at) order by day) as opens,
              array_agg(case when working then date_part('epoch', closes_at - opens_at) else 0 end order by day) as lengths
         from (select gss, day, working, opens_at, closes_at,
                      coalesce(sum(case when working then date_part('epoch', closes_at - opens_at) end)
                                 over (partition by gss order by day rows between unbounded preceding and 1 preceding), 0) as before_s
                 from days) w
        group by gss`,
      [partnershipId, from, to]
    )
    const days = cal[0]?.before_s.length ?? 0
    return (
      await tx.query<ReportRow & { total: boolean }>(
        `with p as (
           select c.id, c.council_gss, c.service_code, c.channel, c.team_id, c.assigned_agent_id, o.resolved_at,
                  o.reopened_at is not null as reopened,
                  (c.first_response_due_at is not null or c.resolution_due_at is not null) as has_target,
                  (c.first_response_breached_at is not null or c.resolution_breached_at is not null) as breached,
                  (${workedBy(`c.first_response_at`)} - (${workedBy(`c.created_at`)})) / 3600 as first_response_h,
                  (${workedBy(`o.resolved_at`)} - (${workedBy(`c.created_at`)})) / 3600 as resolution_h
             from cases c
             left join case_outcomes o on o.case_id = c.id
             left join (select * from unnest($4::text[], $5::int[]) as x (gss, base)) k on k.gss = c.council_gss
            where c.partnership_id = $1 and c.created_at >= $2 and c.created_at < $3 and c.merged_into is null
         ), r as (
           select ${KEY[by]} as key, grouping(${KEY[by]}) = 1 as total,
                  count(*)::int as volume,
                  percentile_cont(array[0.5, 0.9]) within group (order by p.first_response_h) as fr,
                  percentile_cont(array[0.5, 0.9]) within group (order by p.resolution_h) as res,
                  count(p.resolved_at)::int as resolved,
                  100.0 * count(*) filter (where p.has_target and not p.breached) / nullif(count(*) filter (where p.has_target), 0) as sla_met,
                  100.0 * count(*) filter (where p.reopened) / nullif(count(p.resolved_at), 0) as reopen_rate,
                  count(k.score)::int as csat_responses,
                  avg(k.score) as csat_average,
                  100.0 * count(*) filter (where k.score >= 4) / nullif(count(k.score), 0) as csat_satisfied
             from p left join csat_surveys k on k.case_id = p.id
            group by grouping sets ((${KEY[by]}), ())
         )
         select r.key, r.total, coalesce(case when r.total then 'All' else ${LABEL[by]} end, r.key, 'None') as label, r.volume, r.resolved,
                round(r.fr[1]::numeric, 2)::float8 as first_response_median_hours, round(r.fr[2]::numeric, 2)::float8 as first_response_p90_hours,
                round(r.res[1]::numeric, 2)::float8 as resolution_median_hours, round(r.res[2]::numeric, 2)::float8 as resolution_p90_hours,
                round(r.sla_met, 1)::float8 as sla_met_pct, round(r.reopen_rate, 1)::float8 as reopen_rate_pct, r.csat_responses,
                round(r.csat_average, 2)::float8 as csat_average, round(r.csat_satisfied, 1)::float8 as csat_satisfied_pct
           from r
          order by r.total, r.volume desc, r.key nulls last`,
        [
          partnershipId,
          from,
          to,
          cal.map((c) => c.gss),
          cal.map((_c, n) => n * days),
          cal.flatMap((c) => c.before_s),
          cal.flatMap((c) => c.opens),
          cal.flatMap((c) => c.lengths),
          (Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()) - 86_400_000) / 1000
        ]
      )
    ).rows
  })
  const row = ({ total: _total, ...rest }: ReportRow & { total: boolean }): ReportRow => rest
  const total = rows.find((r) => r.total)
  const empty: ReportRow = {
    key: 'all', label: 'All', volume: 0, first_response_median_hours: null, first_response_p90_hours: null, resolution_median_hours: null,
    resolution_p90_hours: null, resolved: 0, sla_met_pct: null, reopen_rate_pct: null, csat_responses: 0, csat_average: null, csat_satisfied_pct: null
  }
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    by,
    rows: rows.filter((r) => !r.total).map(row),
    total: total ? { ...row(total), key: 'all' } : empty
  }
}

export const REPORT_COLUMNS: ReadonlyArray<keyof ReportRow> = [
  'key', 'label', 'volume', 'resolved', 'first_response_median_hours', 'first_response_p90_hours', 'resolution_median_hours',
  'resolution_p90_hours', 'sla_met_pct', 'reopen_rate_pct', 'csat_responses', 'csat_average', 'csat_satisfied_pct'
]
