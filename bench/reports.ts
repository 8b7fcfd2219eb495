/**
 * `npm run bench:reports`: the supervisors' report over a million cases. Builds a database of
 * its own (migrated, demo data) holding REPORT_CASES cases (1,000,000) of the tri-borough
 * partnership spread over a year, with their resolution and reopening events and ratings,
 * then times the report (GET /v1/supervisor/reports's one statement) for the whole year by
 * each dimension, three times each, and prints the median against the 2 s target.
 *
 * Knobs (env): REPORT_CASES (1000000), REPORT_KEEP=1 (keep the database for another run:
 * it is reused when it holds as many cases). Sends nothing beyond 127.0.0.1.
 */
import pg from 'pg'
import { ensureDatabase, migrate } from '../src/db/migrate.js'
import { createPool } from '../src/db/pool.js'
import { caseReport, REPORT_DIMENSIONS } from '../src/reports/case-report.js'
import { loadDemoData } from '../src/seed/demo-data.js'
import { adminQuery } from './services.js'

const DB_NAME = 'switchboard_bench_reports'
const DATABASE_URL = `postgres://postgres@127.0.0.1:5432/${DB_NAME}`
const CASES = Number(process.env.REPORT_CASES ?? 1_000_000)
const TARGET_MS = 2_000
const FROM = new Date('2025-01-01T00:00:00Z')
const TO = new Date('2026-01-01T00:00:00Z')

const log = (msg: string) => console.log(`[reports ${new Date().toISOString().slice(11, 19)}] ${msg}`)
const fmt = (n: number) => n.toLocaleString('en-GB', { maximumFractionDigits: 0 })

async function load(db: pg.Pool): Promise<void> {
  const started = performance.now()
  const client = await db.connect()
  try {
    // a bulk load of history: no triggers (announcements, guards) and no foreign-key checks
    await client.query(`set session_replication_role = replica`)
    await client.query(`insert into agents (partnership_id, email, display_name, role, password_hash)
                        select 'tri-borough', 'bench.agent' || g || '@example.org', 'Bench agent ' || g, 'agent', 'x' from generate_series(1, 50) g
                        on conflict do nothing`)
    await client.query(`insert into residents (display_name) select 'Resident ' || g from generate_series(1, 1000) g`)
    log(`loading ${fmt(CASES)} cases`)
    await client.query(
      `insert into cases (reference, resident_id, channel, status, partnership_id, council_gss, service_code, created_at, routed_at,
                          first_response_at, assigned_agent_id, first_response_due_at, resolution_due_at, resolution_breached_at, work_status)
       select 'SB-' || substr(h, 1, 4) || '-' || substr(h, 5, 4) || '-' || substr(h, 9, 4),
              (select min(id) from residents) + g % 1000,
              (array['sms', 'email', 'web', 'voice'])[1 + g % 4], 'routed', 'tri-borough',
              (array['E09000033', 'E09000013', 'E09000020'])[1 + g % 3],
              (array['missed_bin', 'fly_tipping', 'pothole', 'noise', 'council_tax'])[1 + g % 5],
              t, t, t + make_interval(mins => (g * 37) % 2880), (select min(id) from agents where email like 'bench.agent%') + g % 50,
              t + interval '4 hours', t + interval '5 days', case when g % 10 = 0 then t + interval '6 days' end,
              case when g % 5 = 0 then 'open' else 'resolved' end
         from generate_series(1, $1::int) g, lateral (select $2::timestamptz + make_interval(secs => (g::float8 / $1) * 365 * 86400) as t,
                                                  lpad(upper(to_hex(g)), 12, '0') as h) ts`,
      [CASES, FROM]
    )
    log('loading events and ratings')
    await client.query(
      `insert into case_events (case_id, type, actor, reason, data, created_at)
       select id, 'case.work_status_changed', 'agent:1', 'moved', '{"from":"open","to":"resolved"}', created_at + make_interval(mins => ((id * 53) % 10000)::int)
         from cases where work_status = 'resolved'`
    )
    await client.query(
      `insert into case_events (case_id, type, actor, reason, created_at)
       select id, 'case.reopened', 'resident', 'wrote again', created_at + interval '8 days' from cases where work_status = 'resolved' and id % 20 = 1`
    )
    // what the outcome trigger keeps as events are written (triggers are off for this load)
    await client.query(
      `insert into case_outcomes (case_id, resolved_at, reopened_at)
       select case_id, min(created_at) filter (where type = 'case.work_status_changed'), min(created_at) filter (where type = 'case.reopened')
         from case_events group by case_id`
    )
    await client.query(
      `insert into csat_surveys (case_id, channel, case_channel, council_gss, service_code, agent_id, score, answered_at)
       select id, 'sms', channel, council_gss, service_code, assigned_agent_id, 1 + id % 5, created_at + interval '2 days' from cases where work_status = 'resolved' and id % 5 = 1`
    )
    await client.query(`set session_replication_role = origin`)
    log('vacuum analyze')
    await client.query('vacuum analyze cases, case_events, case_outcomes, csat_surveys')
  } finally {
    client.release()
  }
  log(`loaded in ${fmt((performance.now() - started) / 1000)} s`)
}

async function main(): Promise<void> {
  const keep = process.env.REPORT_KEEP === '1'
  if (!keep) await adminQuery(`drop database if exists ${DB_NAME} with (force)`)
  await ensureDatabase(DATABASE_URL)
  const db = createPool({ DATABASE_URL, DATABASE_POOL_SIZE: 2 })
  try {
    await migrate(db)
    // a load that finished wrote its ratings last
    const [{ n, complete }] = (await db.query<{ n: number; complete: boolean }>(`select count(*)::int as n, exists (select 1 from csat_surveys) as complete from cases`)).rows as [
      { n: number; complete: boolean }
    ]
    if (n !== CASES || !complete) {
      if (n !== 0) {
        await db.end()
        await adminQuery(`drop database if exists ${DB_NAME} with (force)`)
        return main()
      }
      await loadDemoData(db)
      await load(db)
    } else log(`reusing ${fmt(n)} cases`)
    const events = (await db.query<{ n: number }>('select count(*)::int as n from case_events')).rows[0]!.n
    log(`${fmt(CASES)} cases, ${fmt(events)} events; the report for ${FROM.toISOString().slice(0, 10)} to ${TO.toISOString().slice(0, 10)}`)
    // the machine's pace in this run: a plain count over the same cases, for scale (these machines vary 2-3x)
    const scans: number[] = []
    for (let i = 0; i < 3; i++) {
      const t = performance.now()
      await db.query(`select count(*) from cases where partnership_id = 'tri-borough' and created_at >= $1 and created_at < $2`, [FROM, TO])
      scans.push(performance.now() - t)
    }
    scans.sort((a, b) => a - b)
    const scanMs = scans[1]!
    const results: Array<{ by: string; medianMs: number; rows: number; volume: number }> = []
    for (const by of REPORT_DIMENSIONS) {
      const times: number[] = []
      let rows = 0
      let volume = 0
      for (let i = 0; i < 3; i++) {
        const t = performance.now()
        const report = await caseReport(db, 'tri-borough', FROM, TO, by)
        times.push(performance.now() - t)
        rows = report.rows.length
        volume = report.total.volume
      }
      times.sort((a, b) => a - b)
      results.push({ by, medianMs: times[1]!, rows, volume })
    }
    console.log('')
    console.log(`a count over the same cases, for scale: ${fmt(scanMs)} ms (median of 3)`)
    for (const r of results) {
      const ratio = (r.medianMs / scanMs).toFixed(1)
      console.log(`by ${r.by.padEnd(8)} ${fmt(r.medianMs).padStart(6)} ms (median of 3; ${ratio}x the count), ${r.rows} rows, ${fmt(r.volume)} cases  ${r.medianMs < TARGET_MS ? 'PASS' : 'FAIL'} (< ${fmt(TARGET_MS)} ms)`)
    }
  } finally {
    await db.end().catch(() => undefined)
    if (!keep) await adminQuery(`drop database if exists ${DB_NAME} with (force)`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
