import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import pg from 'pg'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { ensureDatabase, migrate } from '../../src/db/migrate.js'
import { createInfra, type Infra } from '../../src/infra.js'
import { createLogger } from '../../src/logger.js'
import { loadDemoData } from '../../src/seed/demo-data.js'
import { startWorkers, type Workers } from '../../workers/index.js'
import { startMailSink, type MailSink } from './mail-sink.js'

export const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'
export const OPERATOR_KEY = 'test-operator-key-0123456789'

export interface TestContext {
  config: Config
  infra: Infra
  app: Awaited<ReturnType<typeof buildApp>>
  /** every log line written so far, as raw JSON text */
  logs: string[]
  /** the file's own SMTP server behind SMTP_URL, when the context made one */
  mailSink: MailSink | null
  startWorkers(): Promise<Workers>
  /** rows of a query against this file's database */
  query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
  close(): Promise<void>
}

/**
 * A fresh database (created, migrated, demo data loaded) and a fresh queue prefix for one
 * test file, with the app built on them. Nothing is shared with other files. Team mails
 * go to a real SMTP server of the file's own (so deliveries are really sent), unless the
 * overrides name an SMTP_URL or `mail: 'demo'` asks for the demo transport, which only
 * keeps them.
 */
export async function createTestContext(overrides: Record<string, unknown> = {}, opts: { workers?: boolean; mail?: 'sink' | 'demo' } = {}): Promise<TestContext> {
  const id = randomBytes(5).toString('hex')
  const mailSink = opts.mail !== 'demo' && overrides.SMTP_URL === undefined ? await startMailSink() : null
  const config = loadConfig(
    {
      NODE_ENV: 'test',
      DATABASE_URL: `postgres://postgres@127.0.0.1:5432/sb_test_${id}`,
      QUEUE_PREFIX: `sbtest-${id}`,
      LOG_LEVEL: 'info',
      OPERATOR_API_KEY: OPERATOR_KEY,
      OUTBOX_SWEEP_MS: 200,
      OUTBOX_LEASE_MS: 1_000,
      DELIVERY_BACKOFF_MS: 50,
      DELIVERY_ATTEMPTS: 4,
      DELIVERY_TIMEOUT_MS: 2_000,
      DATABASE_POOL_SIZE: 5,
      // tests of other things post and look up freely; test/channels/rate-limits.test.ts sets them
      RATE_LIMIT_INTAKE_PER_MIN: 0,
      RATE_LIMIT_LOOKUP_PER_MIN: 0,
      RATE_LIMIT_API_KEY_PER_MIN: 0,
      ...(mailSink ? { SMTP_URL: mailSink.url } : {}),
      ...overrides
    },
    {}
  )
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean))
      done()
    }
  })
  const infra = await bootInfra(config, createLogger(config, sink))
  const app = await buildApp(infra)
  await app.ready()
  const running: Workers[] = []
  const ctx: TestContext = {
    config,
    infra,
    app,
    logs,
    mailSink,
    async startWorkers() {
      const w = await startWorkers(infra)
      running.push(w)
      return w
    },
    async query(sql, params) {
      return (await infra.db.query(sql, params)).rows
    },
    async close() {
      await app.close()
      for (const w of running) await w.close()
      await deleteQueueKeys(infra, config.QUEUE_PREFIX)
      await infra.close()
      await dropDatabase(config.DATABASE_URL)
      await mailSink?.close()
    }
  }
  if (opts.workers) await ctx.startWorkers()
  return ctx
}

/** What `npm start` does before serving: the database created if missing, migrated, demo data loaded. */
export async function bootInfra(config: Config, log: Infra['log']): Promise<Infra> {
  await ensureDatabase(config.DATABASE_URL)
  const infra = await createInfra(config, log)
  await migrate(infra.db)
  await loadDemoData(infra.db)
  await infra.catalogue.load()
  return infra
}

/** Deletes this prefix's BullMQ keys: the per-file stand-in for FLUSHALL on a shared Redis. */
export async function deleteQueueKeys(infra: Pick<Infra, 'redis'>, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await infra.redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500)
    cursor = next
    if (keys.length) await infra.redis.del(...keys)
  } while (cursor !== '0')
}

export async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1)
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  try {
    await admin.query(`drop database if exists ${admin.escapeIdentifier(name)} with (force)`)
  } finally {
    await admin.end()
  }
}

/** Polls until `check` returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | null | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** POST /v1/contacts through the app. */
export function postContact(ctx: TestContext, body: unknown, headers: Record<string, string> = {}) {
  return ctx.app.inject({ method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) })
}

/** The case row for a reference (status, council, service, candidates ...). */
export async function caseRow(ctx: TestContext, reference: string) {
  const rows = await ctx.query<{
    id: number
    status: string
    council_gss: string | null
    service_code: string | null
    team: string | null
    triage_candidates: string[]
    partnership_id: string | null
    sla_due_at: Date | null
    created_at: Date
  }>('select id, status, council_gss, service_code, team, triage_candidates, partnership_id, sla_due_at, created_at from cases where reference = $1', [reference])
  return rows[0]
}

/** Waits until the case has left 'received' and returns it. */
export async function waitPlaced(ctx: TestContext, reference: string, timeoutMs = 10_000) {
  return waitFor(async () => {
    const row = await caseRow(ctx, reference)
    return row && row.status !== 'received' ? row : null
  }, timeoutMs, `case ${reference} to be placed`)
}

export async function eventsOf(ctx: TestContext, reference: string) {
  return ctx.query<{ type: string; actor: string; reason: string; data: Record<string, unknown> }>(
    'select e.type, e.actor, e.reason, e.data from case_events e join cases c on c.id = e.case_id where c.reference = $1 order by e.id',
    [reference]
  )
}
