import type { Queryable } from '../db/pool.js'
import { AppError } from '../errors.js'

/**
 * The retention schedules, the record of runs and the counts that survive retention: what
 * the operator API and CLI read and change. The job itself is src/data-protection/retention.ts;
 * the queue it runs from is declared with the others in src/jobs/queues.ts.
 */

export const RECORD_CLASSES = ['raw', 'content', 'case', 'delivery', 'resident', 'access_log'] as const
export type RecordClass = (typeof RECORD_CLASSES)[number]

/** What each class holds and the clock its days count from, for operators (GET /v1/admin/retention/schedules). */
export const RECORD_CLASS_INFO: Record<RecordClass, { holds: string; counted_from: string; per_council: boolean }> = {
  raw: {
    holds: 'Provider payloads exactly as they came and the raw bytes of every mail, including quarantined mail; redacted when expired',
    counted_from: 'arrival (raw_inbound.received_at, inbound_emails.received_at)',
    per_council: true
  },
  content: {
    holds: 'Messages in and out, attachments and MMS media, voicemail recordings and transcriptions; redacted when expired',
    counted_from: 'the message being written (messages.created_at)',
    per_council: true
  },
  case: {
    holds: "Cases' reported details, description and location, their events' reasons and data, council updates; redacted when expired (the case row and its counts stay)",
    counted_from: 'the last activity on the case (cases.updated_at)',
    per_council: true
  },
  delivery: {
    holds: 'Which council system received which case (deliveries, council webhook events, case.erased notices); settled ones are deleted when expired',
    counted_from: 'settling: delivered_at, else the last attempt (deliveries) or creation (webhook events, notices)',
    per_council: true
  },
  resident: {
    holds: 'Residents with no case left: their name, contact points and STOP/START records; erased when expired (an active STOP stays while its resident does)',
    counted_from: "the resident's last contact (the latest of residents.created_at and their contact points' last_seen_at)",
    per_council: false
  },
  access_log: {
    holds: 'The record of who read which case; deleted when expired',
    counted_from: 'the read (access_log.at)',
    per_council: true
  }
}

/** Records acted on per class: redacted (raw, content, case), deleted (delivery, access_log), erased or deleted (resident). */
export type RetentionCounts = Record<RecordClass, number>

/** Rows changed per table, for the run's record. */
export interface RetentionDetail {
  raw_inbound: number
  inbound_emails: number
  messages: number
  media: number
  recordings: number
  cases: number
  case_events: number
  deliveries: number
  webhook_events: number
  erasure_notices: number
  residents: number
  contact_points: number
  sms_opt_outs: number
  access_log: number
}

// ---- the schedules, runs and the reporting that survives retention ----

export interface ScheduleRow {
  record_class: RecordClass
  council_gss: string | null
  council_name: string | null
  keep_days: number
  updated_at: Date
  updated_by: string
}

/** Every schedule: defaults first (in class order), then councils' own by council. */
export async function listSchedules(db: Queryable): Promise<ScheduleRow[]> {
  const { rows } = await db.query<ScheduleRow>(
    `select s.record_class, s.council_gss, c.name as council_name, s.keep_days, s.updated_at, s.updated_by
       from retention_schedules s left join councils c on c.gss = s.council_gss
      order by s.council_gss nulls first, array_position($1::text[], s.record_class)`,
    [RECORD_CLASSES]
  )
  return rows
}

/**
 * Sets how long a class is kept, for one council or (without one) by default. Refuses a
 * council the deployment does not have, and a council's own schedule for residents, who
 * belong to no council.
 */
export async function setSchedule(db: Queryable, s: { record_class: RecordClass; keep_days: number; council_gss?: string | null }, by: string): Promise<ScheduleRow> {
  const council = s.council_gss ?? null
  if (council !== null) {
    if (!RECORD_CLASS_INFO[s.record_class].per_council) {
      throw new AppError('validation_failed', { field: 'council_gss', message: `The ${s.record_class} class is kept by one schedule for every council; leave council_gss out` })
    }
    const known = await db.query('select 1 from councils where gss = $1', [council])
    if (!known.rowCount) throw new AppError('unknown_council', { field: 'council_gss', message: `No council in this deployment has the GSS code ${council}` })
  }
  const { rows } = await db.query<ScheduleRow>(
    `with saved as (
       insert into retention_schedules (record_class, council_gss, keep_days, updated_by) values ($1, $2, $3, $4)
       on conflict (record_class, coalesce(council_gss, '')) do update set keep_days = excluded.keep_days, updated_by = excluded.updated_by, updated_at = now()
       returning record_class, council_gss, keep_days, updated_at, updated_by)
     select saved.*, c.name as council_name from saved left join councils c on c.gss = saved.council_gss`,
    [s.record_class, council, s.keep_days, by]
  )
  return rows[0]!
}

/** Removes a council's own schedule for a class, so the default applies to it again. False when it had none. */
export async function removeSchedule(db: Queryable, recordClass: RecordClass, council: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from retention_schedules where record_class = $1 and council_gss = $2', [recordClass, council])
  return (rowCount ?? 0) > 0
}

export interface RunRow {
  id: number
  started_at: Date
  finished_at: Date | null
  as_of: Date
  counts: Partial<RetentionCounts> & { detail?: Partial<RetentionDetail> }
}

/** The most recent runs, newest first. A run without finished_at was cut short or is still going. */
export async function listRuns(db: Queryable, limit: number): Promise<RunRow[]> {
  const { rows } = await db.query<RunRow>('select id, started_at, finished_at, as_of, counts from retention_runs order by id desc limit $1', [limit])
  return rows
}

export interface CaseCountRow {
  council_gss: string | null
  service_code: string | null
  channel: string
  month: string
  cases: number
}

/**
 * Cases by council, service, channel and month (Europe/London): the reporting retention
 * leaves intact, since a redacted case keeps all four.
 */
export async function countCases(db: Queryable, council: string | null): Promise<CaseCountRow[]> {
  const { rows } = await db.query<CaseCountRow>(
    `select council_gss, service_code, channel, to_char(created_at at time zone 'Europe/London', 'YYYY-MM') as month, count(*)::int as cases
       from cases where $1::text is null or council_gss = $1
      group by 1, 2, 3, 4 order by 4, 1 nulls first, 2 nulls first, 3`,
    [council]
  )
  return rows
}
