/**
 * Where a routed case's cost goes: `npm run bench:drain`. Stores a backlog of web contacts
 * (straight through the intake function, no HTTP), hands their route jobs to Redis as the
 * API would, then starts the workers in a process of their own and times them until every
 * case is routed and delivered. Prints cases/s, the CPU each part of the machine spent per
 * case, and, when Postgres has pg_stat_statements loaded, the statements by time per case.
 *
 * Knobs (env): DRAIN_CASES (6000), DRAIN_PROFILE=1 (the workers run with --cpu-prof into
 * /tmp/switchboard-drain-prof), BENCH_APP_ENV as in bench/run.ts (settings for the workers).
 * Sends nothing beyond 127.0.0.1; the demo mail transport keeps team mails, as in bench/run.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import pg from 'pg'
import { Redis } from 'ioredis'
import { ensureDatabase, migrate } from '../src/db/migrate.js'
import { createPool } from '../src/db/pool.js'
import { intakeContacts } from '../src/intake/intake.js'
import type { InboundContact } from '../src/intake/inbound-contact.js'
import { enqueueMany } from '../src/jobs/outbox-relay.js'
import { createQueues } from '../src/jobs/queues.js'
import { projectRoot } from '../src/lib/paths.js'
import { loadDemoData } from '../src/seed/demo-data.js'
import { contactBody } from './bodies.js'
import { CpuMeter } from './cpu.js'

const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'
const DB_NAME = 'switchboard_drain'
const DATABASE_URL = `postgres://postgres@127.0.0.1:5432/${DB_NAME}`
const REDIS_URL = 'redis://127.0.0.1:6379'
const QUEUE_PREFIX = 'sbdrain'
const CASES = Number(process.env.DRAIN_CASES ?? 6000)
const PROFILE_DIR = '/tmp/switchboard-drain-prof'

const log = (msg: string) => console.log(`[drain ${new Date().toISOString().slice(11, 19)}] ${msg}`)

function contactOf(n: number): InboundContact {
  const body = contactBody(n, 'drain')
  return {
    channel: 'web',
    provider: 'web',
    providerMessageId: randomUUID(),
    rawPayload: body,
    payloadHash: null,
    sender: { name: body.name, email: body.email, phone: null, raw: null },
    recipient: null,
    text: body.description,
    location: { postcode: body.postcode, lat: null, lng: null },
    serviceCode: null,
    councilGss: null,
    threadReference: null
  }
}

async function resetDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`drop database if exists ${DB_NAME} with (force)`)
  await admin.end()
  await ensureDatabase(DATABASE_URL)
}

async function deleteKeys(redis: Redis): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${QUEUE_PREFIX}:*`, 'COUNT', 1000)
    cursor = next
    if (keys.length) await redis.del(...keys)
  } while (cursor !== '0')
}

async function main(): Promise<void> {
  await resetDatabase()
  const db = createPool({ DATABASE_URL, DATABASE_POOL_SIZE: 4 }, 'switchboard-drain')
  await migrate(db)
  await loadDemoData(db)
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  await deleteKeys(redis)
  const queues = createQueues(redis, { prefix: QUEUE_PREFIX, deliveryAttempts: 5, deliveryBackoffMs: 1000 })

  log(`storing ${CASES} web contacts`)
  for (let n = 0; n < CASES; n += 200) {
    const chunk = Array.from({ length: Math.min(200, CASES - n) }, (_, i) => contactOf(n + i))
    await intakeContacts(db, chunk)
  }
  // the route jobs, as the API's relay hands them over after commit
  const { rows: outbox } = await db.query(`update outbox set relayed_at = clock_timestamp() where done_at is null returning id, topic, payload, job_key`)
  await enqueueMany(queues, outbox)
  // statements by time, when Postgres loads the extension (shared_preload_libraries)
  await db.query('create extension if not exists pg_stat_statements').catch(() => undefined)
  const haveStatements = await db.query('select pg_stat_statements_reset()').then(
    () => true,
    () => false
  )

  const extra = Object.fromEntries((process.env.BENCH_APP_ENV ?? '').split(/\s+/).filter(Boolean).map((p) => p.split('=', 2) as [string, string]))
  const nodeArgs = process.env.DRAIN_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []
  log(`${CASES} route jobs waiting; starting the workers${nodeArgs.length ? ` (profiling into ${PROFILE_DIR})` : ''}`)
  const workers: ChildProcess = spawn(process.execPath, [...nodeArgs, join(projectRoot, 'dist', 'src', 'main.js'), 'workers'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      DATABASE_URL,
      REDIS_URL,
      QUEUE_PREFIX,
      NODE_ENV: 'development',
      LOAD_DEMO_DATA: 'false',
      LOG_LEVEL: 'warn',
      RETENTION_EVERY_MINUTES: '0',
      ...extra
    },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  // whatever happens below, the workers do not outlive this process
  process.on('exit', () => workers.kill('SIGKILL'))
  const meter = new CpuMeter({ workers: workers.pid })
  const before = meter.snapshot()
  const started = performance.now()
  for (;;) {
    const { rows } = await db.query<{ left: number }>(
      `select ((select count(*) from cases where status = 'received') + (select count(*) from outbox where done_at is null))::int as left`
    )
    if (rows[0]!.left === 0) break
    if (performance.now() - started > 300_000) throw new Error('not drained within 5 minutes')
    await new Promise((r) => setTimeout(r, 100))
  }
  const ms = performance.now() - started
  const cpu = meter.between(before, meter.snapshot())
  const perCase = (pct: number) => ((pct / 100) * ms) / CASES
  const { rows: outcome } = await db.query(`select status, count(*)::int as n from cases group by 1 order by 1`)
  const { rows: deliveries } = await db.query(`select state, count(*)::int as n from deliveries group by 1 order by 1`)

  console.log('')
  console.log(`drained ${CASES} cases in ${(ms / 1000).toFixed(1)} s: ${((CASES / ms) * 1000).toFixed(1)} cases/s`)
  console.log(`cases: ${outcome.map((r) => `${r.status} ${r.n}`).join(', ')}; deliveries: ${deliveries.map((r) => `${r.state} ${r.n}`).join(', ')}`)
  console.log(`CPU per case (ms): workers ${perCase(cpu.workers ?? 0).toFixed(2)}, postgres ${perCase(cpu.postgres ?? 0).toFixed(2)}, redis ${perCase(cpu.redis ?? 0).toFixed(2)}, machine ${perCase(cpu.machine ?? 0).toFixed(2)}`)
  console.log(`CPU (% of one core): ${JSON.stringify(cpu)}`)
  if (haveStatements) {
    const { rows: top } = await db.query(
      `select calls, round(total_exec_time::numeric, 1) as total_ms, round(total_exec_time::numeric / $1::int, 4) as ms_per_case,
              round(calls::numeric / $1::int, 2) as calls_per_case, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) as query
         from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
        order by total_exec_time desc limit 15`,
      [CASES]
    )
    console.log('\nstatements by execution time (pg_stat_statements):')
    console.table(top)
  } else {
    console.log('\n(pg_stat_statements is not loaded: add it to shared_preload_libraries and restart Postgres to see statements)')
  }
  const exited = new Promise((r) => workers.once('exit', r))
  workers.kill('SIGTERM')
  await exited
  await queues.close()
  await deleteKeys(redis)
  redis.disconnect()
  await db.end()
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`drop database if exists ${DB_NAME} with (force)`)
  await admin.end()
}

await main()
