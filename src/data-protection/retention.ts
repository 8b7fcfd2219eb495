import { withTransaction, type Db, type DbClient, type Queryable } from '../db/pool.js'
import type { Log } from '../logger.js'
import { eraseResidentRecords, redactCases, redactInboundEmails, redactMessages, redactRawInbound } from './redact.js'
import { RECORD_CLASS_INFO, RECORD_CLASSES, type RecordClass, type RetentionCounts, type RetentionDetail } from './retention-schedules.js'

/**
 * Retention: how long each class of record is kept (migrations/019 retention_schedules, per
 * council with a default row), and the job that applies it.
 *
 * What each class removes once its keep_days have passed, counted from the record's own clock:
 *
 * - raw: provider payloads (raw_inbound, from received_at) and the raw mail kept with them
 *   are redacted; so is mail that never became a message (quarantined, discarded: an
 *   inbound_emails row with no raw_inbound row), under the default schedule.
 * - content: messages (from created_at) lose their text, addresses, subject, HTML and
 *   thread headers; their attachments and MMS media, and a voicemail's recording and
 *   transcription, go with them.
 * - case: cases (from updated_at, their last activity) are redacted whole: the reported
 *   details, description, exact location, every event's reason and data, council updates'
 *   wording, merge notes, and whatever content and raw payloads were still on them. The
 *   case row stays with its reference, council, service, channel, status and dates, so
 *   counts by council, service, channel and month survive; no case is ever deleted.
 * - delivery: settled hand-overs to council systems (deliveries delivered, dead or kept,
 *   from delivered_at else updated_at; webhook events and case.erased notices delivered or
 *   dead, from delivered_at else created_at) are deleted. Work still pending or retrying
 *   is never removed.
 * - resident: a resident with no case left unredacted (all redacted, or none) whose last
 *   contact (created_at, or the latest last_seen_at of their contact points) is older
 *   than the default resident schedule is erased: name, contact points, merge notes and
 *   their numbers' STOP/START records. A START record (opted_out = false) older than the
 *   schedule is deleted on its own; an active STOP never is, since it is what stops us
 *   texting someone who asked us to stop (it goes only with its resident).
 * - access_log: reads (from `at`) are deleted; the table refuses deletes from anyone else.
 *
 * A record's council is its case's (council_gss, else requested_council_gss); records with
 * no case, and residents, use the default row. Nothing belonging to a case under legal hold
 * is touched in any class.
 *
 * Each batch is one short transaction that takes at most `batchSize` rows still due with
 * FOR UPDATE SKIP LOCKED, redacts or deletes them and commits: a redacted or deleted row is
 * never taken again, so a second run changes nothing, a run killed midway keeps the batches
 * it committed and the next run does the rest, and two runs at once share the work.
 */


export interface RetentionResult {
  runId: number
  asOf: Date
  counts: RetentionCounts
  detail: RetentionDetail
}

export interface RetentionOptions {
  now: Date
  batchSize: number
  log: Log
  /** called after each committed batch that did something (tests use it to stop a run midway) */
  afterBatch?: (cls: RecordClass, n: number) => Promise<void> | void
}

/** One class's schedule as a run sees it: the default, each council's own, and the shortest of all. */
interface ClassSchedule {
  defaultDays: number | null
  councils: Record<string, number>
  minDays: number | null
}

type Plan = Record<RecordClass, ClassSchedule>

/** One kind of batch: takes up to `limit` rows due and deals with them; returns how many it took and what changed. */
type Batch = (client: DbClient, s: ClassSchedule, now: Date, limit: number) => Promise<{ taken: number; detail: Partial<RetentionDetail> }>

// The same three parameters in every batch: $1 now, $2 the councils' own days as JSON, $3 the
// default days; $4 the earliest cutoff of all (lets the retention indexes narrow the scan), $5 the limit.
const params = (s: ClassSchedule, now: Date, limit: number) => [now, JSON.stringify(s.councils), s.defaultDays, cutoff(now, s.minDays), limit]
const cutoff = (now: Date, days: number | null) => (days === null ? null : new Date(now.getTime() - days * 86_400_000))
const ids = (rows: Array<{ id: number }>) => rows.map((r) => Number(r.id))

const rawBatch: Batch = async (client, s, now, limit) => {
  const { rows } = await client.query<{ id: number }>(
    `select r.id from raw_inbound r left join cases c on c.id = r.case_id
      where r.redacted_at is null and r.received_at < $4
        and r.received_at < $1::timestamptz - make_interval(days => coalesce(($2::jsonb ->> coalesce(c.council_gss, c.requested_council_gss))::int, $3::int))
        and c.legal_hold_at is null
      order by r.received_at, r.id limit $5
      for update of r skip locked`,
    params(s, now, limit)
  )
  const done = await redactRawInbound(client, ids(rows))
  return { taken: rows.length, detail: { raw_inbound: done.raw, inbound_emails: done.emails } }
}

// mail that never became a message has no case, hence no council: the default schedule
const strayMailBatch: Batch = async (client, s, now, limit) => {
  const { rows } = await client.query<{ id: number }>(
    `select e.id from inbound_emails e
      where e.redacted_at is null and e.raw_inbound_id is null and e.received_at < $1::timestamptz - make_interval(days => $2::int)
      order by e.received_at, e.id limit $3
      for update skip locked`,
    [now, s.defaultDays, limit]
  )
  return { taken: rows.length, detail: { inbound_emails: await redactInboundEmails(client, ids(rows)) } }
}

const contentBatch: Batch = async (client, s, now, limit) => {
  const { rows } = await client.query<{ id: number }>(
    `select m.id from messages m join cases c on c.id = m.case_id
      where m.redacted_at is null and m.created_at < $4
        and m.created_at < $1::timestamptz - make_interval(days => coalesce(($2::jsonb ->> coalesce(c.council_gss, c.requested_council_gss))::int, $3::int))
        and c.legal_hold_at is null
      order by m.created_at, m.id limit $5
      for update of m skip locked`,
    params(s, now, limit)
  )
  const done = await redactMessages(client, ids(rows))
  return { taken: rows.length, detail: done }
}

const caseBatch: Batch = async (client, s, now, limit) => {
  const { rows } = await client.query<{ id: number }>(
    `select c.id from cases c
      where c.redacted_at is null and c.legal_hold_at is null and c.updated_at < $4
        and c.updated_at < $1::timestamptz - make_interval(days => coalesce(($2::jsonb ->> coalesce(c.council_gss, c.requested_council_gss))::int, $3::int))
      order by c.updated_at, c.id limit $5
      for update skip locked`,
    params(s, now, limit)
  )
  const { counts } = await redactCases(client, ids(rows), 'retention')
  return {
    taken: rows.length,
    detail: { cases: counts.cases, case_events: counts.events, messages: counts.messages, media: counts.media, recordings: counts.recordings, raw_inbound: counts.raw, inbound_emails: counts.emails }
  }
}

const deliveryBatch: Batch = async (client, s, now, limit) => {
  // 'kept' is settled too: the demo transport built the mail and will never send it
  const { rowCount } = await client.query(
    `with due as (
       select d.id from deliveries d join cases c on c.id = d.case_id
        where d.state in ('delivered', 'dead', 'kept') and coalesce(d.delivered_at, d.updated_at) < $4
          and coalesce(d.delivered_at, d.updated_at) < $1::timestamptz - make_interval(days => coalesce(($2::jsonb ->> coalesce(c.council_gss, c.requested_council_gss))::int, $3::int))
          and c.legal_hold_at is null
        order by d.id limit $5
        for update of d skip locked)
     delete from deliveries d using due where d.id = due.id`,
    params(s, now, limit)
  )
  return { taken: rowCount ?? 0, detail: { deliveries: rowCount ?? 0 } }
}

const webhookEventBatch: Batch = async (client, s, now, limit) => {
  const { rowCount } = await client.query(
    `with due as (
       select w.id from webhook_events w join cases c on c.id = w.case_id
        where w.state in ('delivered', 'dead') and coalesce(w.delivered_at, w.created_at) < $4
          and coalesce(w.delivered_at, w.created_at) < $1::timestamptz - make_interval(days => coalesce(($2::jsonb ->> coalesce(c.council_gss, c.requested_council_gss))::int, $3::int))
          and c.legal_hold_at is null
        order by w.id limit $5
        for update of w skip locked)
     delete from webhook_events w using due where w.id = due.id`,
    params(s, now, limit)
  )
  return { taken: rowCount ?? 0, detail: { webhook_events: rowCount ?? 0 } }
}

const erasureNoticeBatch: Batch = async (client, s, now, limit) => {
  const { rowCount } = await client.query(
    `with due as (
       select n.id from erasure_notices n join cases c on c.id = n.case_id
        where n.state in ('delivered', 'dead') and coalesce(n.delivered_at, n.created_at) < $4
          and coalesce(n.delivered_at, n.created_at) < $1::timestamptz - make_interval(days => coalesce(($2::jsonb ->> coalesce(c.council_gss, c.requested_council_gss))::int, $3::int))
          and c.legal_hold_at is null
        order by n.id limit $5
        for update of n skip locked)
     delete from erasure_notices n using due where n.id = due.id`,
    params(s, now, limit)
  )
  return { taken: rowCount ?? 0, detail: { erasure_notices: rowCount ?? 0 } }
}

// Residents belong to no council: the default schedule only. A case under legal hold is
// unredacted, so its resident is never due.
const residentBatch: Batch = async (client, s, now, limit) => {
  const { rows } = await client.query<{ id: number }>(
    `select r.id from residents r
      where r.erased_at is null and r.created_at < $1
        and not exists (select 1 from contact_points cp where cp.resident_id = r.id and cp.last_seen_at >= $1)
        and not exists (select 1 from cases c where c.resident_id = r.id and c.redacted_at is null)
      order by r.id limit $2
      for update skip locked`,
    [cutoff(now, s.defaultDays), limit]
  )
  const done = await eraseResidentRecords(client, ids(rows))
  return { taken: rows.length, detail: { residents: done.residents, contact_points: done.contactPoints, sms_opt_outs: done.optOuts } }
}

// START records only: an active STOP is what keeps us from texting the number
const optInBatch: Batch = async (client, s, now, limit) => {
  const { rowCount } = await client.query(
    `with due as (
       select o.phone from sms_opt_outs o
        where not o.opted_out and o.changed_at < $1
          and not exists (select 1 from cases c where c.legal_hold_at is not null
                             and (c.reported_phone = o.phone
                                  or c.resident_id in (select cp.resident_id from contact_points cp where cp.kind = 'phone' and cp.value = o.phone)))
        order by o.phone limit $2
        for update skip locked)
     delete from sms_opt_outs o using due where o.phone = due.phone`,
    [cutoff(now, s.defaultDays), limit]
  )
  return { taken: rowCount ?? 0, detail: { sms_opt_outs: rowCount ?? 0 } }
}

const accessLogBatch: Batch = async (client, s, now, limit) => {
  // the table's trigger lets this transaction, and only it, delete (access_log_guard, src/data-protection/sql/guards.sql)
  await client.query(`select set_config('switchboard.retention', 'on', true)`)
  const { rowCount } = await client.query(
    `with due as (
       select a.id from access_log a
        where a.at < $4
          and a.at < $1::timestamptz - make_interval(days => coalesce(($2::jsonb ->> a.council_gss)::int, $3::int))
          and not exists (select 1 from cases c where c.id = a.case_id and c.legal_hold_at is not null)
        order by a.id limit $5
        for update skip locked)
     delete from access_log a using due where a.id = due.id`,
    params(s, now, limit)
  )
  return { taken: rowCount ?? 0, detail: { access_log: rowCount ?? 0 } }
}

// In this order: a resident becomes due once the case pass has redacted their last case.
const STEPS: Array<[RecordClass, Batch]> = [
  ['raw', rawBatch],
  ['raw', strayMailBatch],
  ['content', contentBatch],
  ['case', caseBatch],
  ['delivery', deliveryBatch],
  ['delivery', webhookEventBatch],
  ['delivery', erasureNoticeBatch],
  ['resident', residentBatch],
  ['resident', optInBatch],
  ['access_log', accessLogBatch]
]

const zeroCounts = (): RetentionCounts => ({ raw: 0, content: 0, case: 0, delivery: 0, resident: 0, access_log: 0 })
const zeroDetail = (): RetentionDetail => ({
  raw_inbound: 0, inbound_emails: 0, messages: 0, media: 0, recordings: 0, cases: 0, case_events: 0,
  deliveries: 0, webhook_events: 0, erasure_notices: 0, residents: 0, contact_points: 0, sms_opt_outs: 0, access_log: 0
})

/** The schedules as one run applies them, read once at its start. */
async function loadPlan(db: Queryable): Promise<Plan> {
  const { rows } = await db.query<{ record_class: RecordClass; council_gss: string | null; keep_days: number }>(
    'select record_class, council_gss, keep_days from retention_schedules'
  )
  const plan = Object.fromEntries(RECORD_CLASSES.map((c) => [c, { defaultDays: null, councils: {}, minDays: null } as ClassSchedule])) as Plan
  for (const r of rows) {
    const s = plan[r.record_class]
    if (r.council_gss === null) s.defaultDays = r.keep_days
    else if (RECORD_CLASS_INFO[r.record_class].per_council) s.councils[r.council_gss] = r.keep_days
    else continue
    s.minDays = s.minDays === null ? r.keep_days : Math.min(s.minDays, r.keep_days)
  }
  return plan
}

/**
 * Applies the retention schedules as of `now`, class by class in batches of at most
 * `batchSize` (see the top of this file). Records the run in retention_runs, its counts
 * updated with each batch, so a run cut short shows what it had done. Logs counts only.
 */
export async function applyRetention(db: Db, opts: RetentionOptions): Promise<RetentionResult> {
  const { now, batchSize, log } = opts
  const plan = await loadPlan(db)
  const { rows } = await db.query<{ id: number }>('insert into retention_runs (as_of) values ($1) returning id', [now])
  const runId = Number(rows[0]!.id)
  const counts = zeroCounts()
  const detail = zeroDetail()
  const record = () => JSON.stringify({ ...counts, detail })
  for (const [cls, batch] of STEPS) {
    const schedule = plan[cls]
    if (schedule.minDays === null) continue
    for (;;) {
      const done = await withTransaction(db, async (client) => {
        const result = await batch(client, schedule, now, batchSize)
        if (result.taken) {
          counts[cls] += result.taken
          for (const [k, v] of Object.entries(result.detail)) detail[k as keyof RetentionDetail] += v
          await client.query('update retention_runs set counts = $2 where id = $1', [runId, record()])
        }
        return result
      })
      if (done.taken) await opts.afterBatch?.(cls, done.taken)
      // a short batch means nothing else is due (or what is left is being done by another run)
      if (done.taken < batchSize) break
    }
  }
  await db.query('update retention_runs set counts = $2, finished_at = clock_timestamp() where id = $1', [runId, record()])
  log.info({ retentionRun: runId, asOf: now.toISOString(), counts, detail }, 'retention applied')
  return { runId, asOf: now, counts, detail }
}
