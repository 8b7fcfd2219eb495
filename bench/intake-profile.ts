/**
 * Where a contact's Postgres time goes: `npm run bench:intake`. Starts the app (API and
 * workers in one process, as `npm start` runs it) on a fresh database, sends web contacts
 * at full speed for a while (the bench's phase b), waits until every case is routed and
 * delivered, and prints contacts/s, the CPU each part of the machine spent per contact and,
 * the rows each table gained and lost per contact (an update that is not HOT writes every
 * index again) and, when Postgres has pg_stat_statements loaded, every statement by time per
 * contact, including those run inside SQL functions and triggers (track = all), with how
 * often each is planned (set pg_stat_statements.track_planning = on to see planning).
 *
 * Knobs (env): PROFILE_SECONDS (10), PROFILE_CONNECTIONS (20), PROFILE_CHANNEL (web or
 * smtp), PROFILE_APP_MODE=api (intake alone: no workers, nothing routed), BENCH_APP_ENV as
 * in bench/run.ts, PROFILE_NODE_ARGS (the app's node options, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof"). Sends nothing beyond 127.0.0.1.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { bodySource, mailSource } from './bodies.js'
import { root, startChild, stopChild, waitReady } from './children.js'
import { CpuMeter } from './cpu.js'
import { load } from './load.js'
import { adminQuery, benchAppEnv, deleteKeys } from './services.js'
import { smtpLoad } from './smtp-load.js'

const DB_NAME = 'switchboard_profile'
const DATABASE_URL = `postgres://postgres@127.0.0.1:5432/${DB_NAME}`
const QUEUE_PREFIX = 'sbprofile'
const HOST = '127.0.0.1'
const PORT = 3321
const SMTP_PORT = 3322
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.PROFILE_CONNECTIONS ?? 20)
const CHANNEL = process.env.PROFILE_CHANNEL === 'smtp' ? 'smtp' : 'web'
// 'api': intake alone, no workers (cases stay unrouted; the figures are intake's own)
const MODE = process.env.PROFILE_APP_MODE === 'api' ? 'api' : 'all'

const log = (msg: string) => console.log(`[profile ${new Date().toISOString().slice(11, 19)}] ${msg}`)

async function main(): Promise<void> {
  await adminQuery(`drop database if exists ${DB_NAME} with (force)`)
  await deleteKeys(`${QUEUE_PREFIX}:*`)
  const app = startChild('app', join(root, 'dist', 'src', 'main.js'), [MODE], benchAppEnv(
    { databaseUrl: DATABASE_URL, queuePrefix: QUEUE_PREFIX, port: PORT, smtpPort: SMTP_PORT },
    {
      OPERATOR_API_KEY: 'profile-operator-key-0123456789abcdef0123456789',
      AGENT_TOKEN_SECRET: 'profile-agent-token-secret-0123456789abcdef',
      RETENTION_EVERY_MINUTES: '0'
    }
  ), (process.env.PROFILE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean))
  process.on('exit', () => app.proc.kill('SIGKILL'))
  await waitReady(app, `http://${HOST}:${PORT}/ready`)
  const db = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
  await db.query('create extension if not exists pg_stat_statements').catch(() => undefined)
  const haveStatements = await db
    .query('select pg_stat_statements_reset()')
    .then(() => db.query(`set pg_stat_statements.track = 'all'`))
    .then(
      () => true,
      () => false
    )
  // the app's own sessions pick the setting up from the database's default
  if (haveStatements) await db.query(`alter database ${DB_NAME} set pg_stat_statements.track = 'all'`).catch(() => undefined)

  // warm-up, then reset the statistics and measure
  log(`${CHANNEL} intake: warm-up 3 s`)
  const url = `http://${HOST}:${PORT}/v1/contacts`
  const run = (seconds: number, tag: string) =>
    CHANNEL === 'web'
      ? load({ title: tag, url, body: bodySource(tag), seconds, connections: CONNECTIONS }).then((f) => f.total)
      : smtpLoad({ host: HOST, port: SMTP_PORT, connections: CONNECTIONS, seconds, source: mailSource(tag, `${tag}.example.com`) }).then((f) => f.accepted)
  await run(3, 'pwarm')
  await drained(db)
  if (haveStatements) await db.query('select pg_stat_statements_reset()')
  const tablesBefore = await tableWrites(db)
  const meter = new CpuMeter({ app: app.proc.pid })
  const before = meter.snapshot()
  const started = performance.now()
  log(`${CHANNEL} intake: ${SECONDS} s at ${CONNECTIONS} connections`)
  const contacts = await run(SECONDS, 'prof')
  const loadMs = performance.now() - started
  await drained(db)
  const ms = performance.now() - started
  const cpu = meter.between(before, meter.snapshot())
  const perContact = (pct: number) => ((pct / 100) * ms) / contacts
  console.log('')
  console.log(`${contacts} contacts in ${(loadMs / 1000).toFixed(1)} s (${((contacts / loadMs) * 1000).toFixed(1)}/s); routed and delivered ${(ms / 1000).toFixed(1)} s after the start`)
  console.log(`CPU per contact, intake to delivered (ms): app ${perContact(cpu.app ?? 0).toFixed(3)}, postgres ${perContact(cpu.postgres ?? 0).toFixed(3)}, redis ${perContact(cpu.redis ?? 0).toFixed(3)}, machine ${perContact(cpu.machine ?? 0).toFixed(3)}`)
  // the statistics collector reports a backend's counts when it goes idle; give it a moment
  await sleep(1500)
  const tablesAfter = await tableWrites(db)
  console.log('\nrow writes per contact by table (an update that is not HOT writes a new entry into every index):')
  console.table(
    [...tablesAfter.values()]
      .map((t) => {
        const b = tablesBefore.get(t.table) ?? { ins: 0, upd: 0, hot: 0, del: 0 }
        const per = (n: number) => (n / contacts).toFixed(2)
        return { table: t.table, indexes: t.indexes, inserted: per(t.ins - b.ins), updated: per(t.upd - b.upd), hot: per(t.hot - b.hot), deleted: per(t.del - b.del), sort: t.ins - b.ins + t.upd - b.upd }
      })
      .filter((t) => t.sort > 0)
      .sort((a, b) => b.sort - a.sort)
      .map(({ sort: _sort, ...t }) => t)
  )
  if (haveStatements) {
    const { rows } = await db.query(
      `select round(total_exec_time::numeric / $1::int * 1000, 1) as us_per_contact, round(calls::numeric / $1::int, 2) as calls_per_contact,
              round((total_exec_time / nullif(calls, 0))::numeric * 1000, 1) as us_per_call, toplevel as top,
              round(plans::numeric / nullif(calls, 0), 2) as plans_per_call, round(total_plan_time::numeric / $1::int * 1000, 1) as plan_us_per_contact,
              left(regexp_replace(query, '\\s+', ' ', 'g'), 120) as query
         from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
        order by total_exec_time desc limit ${Number(process.env.PROFILE_ROWS ?? 30)}`,
      [contacts]
    )
    const { rows: sum } = await db.query(
      `select round(sum(total_exec_time)::numeric / $1::int * 1000, 1) as us from pg_stat_statements
        where toplevel and dbid = (select oid from pg_database where datname = current_database())`,
      [contacts]
    )
    console.log(`\nstatements by execution time per contact (top-level total ${sum[0]?.us} µs; nested statements are inside their caller's time):`)
    console.table(rows)
  } else {
    console.log('\n(pg_stat_statements is not loaded: add it to shared_preload_libraries and restart Postgres to see statements)')
  }
  await db.end()
  await stopChild(app)
  await deleteKeys(`${QUEUE_PREFIX}:*`)
  await adminQuery(`drop database if exists ${DB_NAME} with (force)`)
}

interface TableWrites {
  table: string
  indexes: number
  ins: number
  upd: number
  hot: number
  del: number
}

async function tableWrites(db: pg.Pool): Promise<Map<string, TableWrites>> {
  const { rows } = await db.query<TableWrites>(
    `select t.relname as table, (select count(*) from pg_index i where i.indrelid = t.relid)::int as indexes,
            t.n_tup_ins::bigint::float8 as ins, t.n_tup_upd::float8 as upd, t.n_tup_hot_upd::float8 as hot, t.n_tup_del::float8 as del
       from pg_stat_user_tables t`
  )
  return new Map(rows.map((r) => [r.table, r]))
}

async function drained(db: pg.Pool): Promise<void> {
  if (MODE === 'api') return
  const started = performance.now()
  for (;;) {
    const { rows } = await db.query<{ left: number }>(
      `select ((select count(*) from cases where status = 'received') + (select count(*) from outbox where done_at is null)
               + (select count(*) from deliveries where state = 'pending'))::int as left`
    )
    if (rows[0]!.left === 0) return
    if (performance.now() - started > 120_000) throw new Error('not drained within 2 minutes')
    await sleep(100)
  }
}

await main()
