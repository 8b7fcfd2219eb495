/**
 * `npm run bench`: how fast Switchboard takes in web contacts and how soon they are routed,
 * measured against the real app on this machine. (Where a case's cost went before issue 13,
 * statement by statement: the header of bench/sustained.ts.)
 *
 * How: creates a throw-away database (switchboard_bench) and Redis prefix (sbbench), starts
 * the real app as a child process (`node dist/src/main.js all`, API and workers in one
 * process, NODE_ENV=production, LOG_LEVEL=warn) and a tiny baseline server
 * (bench/baseline-server.ts: Fastify + one INSERT + one BullMQ add per request), then drives
 * both over 127.0.0.1 only (autocannon for the maximum-throughput phases):
 *   k. (first, while the databases are fresh) intake of an earlier build (BENCH_BASE_REF,
 *      default the commit before issue 20's hardening) against this one, interleaved old,
 *      new, new, old, new, old, old, new; requests/s, and the app's and Postgres's CPU per
 *      contact, of each (bench/base-compare.ts)
 *   a. baseline max throughput: POST /baseline, 20 connections, 8 s
 *   b. intake max throughput:   POST /v1/contacts, 20 connections, 8 s, distinct valid bodies
 *      (the workers route meanwhile, on their own thread; a drain follows, timed, until the
 *      backlog is routed and delivered: cases/s, its ratio to the web intake rate, and the
 *      machine's CPU per routed and delivered case beside the figure before issue 13; see
 *      bench/sustained.ts)
 *      a and b are run twice, a1 b1 a2 b2, so that the machine's drift falls on both sides
 *   c. ratio b ÷ a over both rounds: how much of the stack's raw capacity intake keeps
 *   d25, d50, d75. intake-to-routed latency: POST /v1/contacts at a steady 25 %, 50 % and
 *      75 % of the web intake rate measured in b (the mean of b1 and b2), 8 s each, open
 *      loop, the backlog settled before each; intake p50/p99, then, once the phase's cases
 *      are routed and delivered, p50/p99 of routed_at - created_at computed in SQL over that
 *      phase's cases, and machine CPU per case (bench/sustained.ts)
 *   s. signed SMS intake: POST /channels/twilio/sms, 20 connections, 8 s, each request a
 *      distinct text from a distinct resident, signed as Twilio signs it; one round after each
 *      b round, its backlog routed before the next phase; compared with b's rate
 *   m. SMTP intake: the app's own SMTP listener (port 3312), 100 sessions at once, 8 s, one
 *      message per session as mail servers send (connect, EHLO, MAIL, RCPT, DATA, QUIT; see
 *      bench/smtp-load.ts), each from a distinct resident with a postcode in its text, to the
 *      partnership mailboxes in turn; messages/s, p50/p99 of the final 250 (from the final dot to the 250
 *      after DATA, which the app gives once the message is committed). One round after each
 *      s round, its backlog routed before the next phase; compared with b's rate, and every
 *      250 must have made exactly one case (counted in SQL right after the round). With
 *      BENCH_APP_MODE=api there is no listener: the phase then shows connection errors
 *   l. (after d75) the agents' live view: 500 agents of one partnership on /v1/agent/stream (WebSocket),
 *      40 contacts to its councils at 10/s; each event's delay from its commit (the case
 *      event's own timestamp) to its arrival at each agent, p50/p99, and none missing
 *   w. (after l) the agents' desks: web intake as in b, 8 s without desks, 8 s with 200 desks
 *      open (each its WebSocket and its first load, as src/desk does, on a thread of their own,
 *      20 arriving at a time: bench/desks.ts), and 8 s
 *      without again; the desks' cost is the with-desks rate against the mean of the others
 *   e. overload: POST /v1/contacts at twice the intake rate of b, from 1,500 pre-opened
 *      connections; every answer must be 202, 429 or 503 within 10 s (no
 *      hang, no dropped connection), and every 202 must be stored (counted in SQL)
 *   h. (last) one hostile mail: HTML nested 200,000 deep sent to the SMTP listener, then its
 *      HTML view timed (< 1 s) while /health is asked again and again (< 100 ms; bench/html-view.ts)
 * Each target gets a 5 s warm-up that is not measured (2 s left the first round colder than the second: JIT, caches, fresh pool connections). The figures are printed as a table
 * with the targets and PASS/FAIL, then as one JSON line (prefix BENCH_RESULT). Also printed:
 * the CPU each process used during each phase (is the load generator, Postgres or the app
 * the limit?). The app runs outside production (see its environment below) with rate limits
 * off: the bench posts from one address far faster than any resident. Exit code 0 whatever the figures; 1 if the app (or baseline) cannot start.
 * Everything is removed afterwards (children stopped, sbbench:* keys deleted, database
 * dropped), on errors and Ctrl-C too.
 *
 * Knobs (env, optional): BENCH_DURATION_S (8), BENCH_CONNECTIONS (20),
 * BENCH_KEEP_DB=1 (keep switchboard_bench for inspection), BENCH_APP_NODE_ARGS (extra node
 * flags for the app, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it), BENCH_APP_ENV
 * (settings for the app to try, e.g. "ROUTE_CONCURRENCY=4 DATABASE_POOL_SIZE=10"),
 * BENCH_APP_MODE (all, the default, or api: intake alone, with no workers competing),
 * BENCH_BASE_REF (the commit phase k compares with, or none to skip it), BENCH_ONLY=k (phase k
 * alone: what a change costs intake, in two minutes).
 */
import os from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { agentTokens } from '../src/agents/tokens.js'
import { buildBase, costLines, DEFAULT_BASE_REF, intakeCost, type CostFigures } from './base-compare.js'
import { bodySource, mailSource, smsSource } from './bodies.js'
import { root, startChild, StartError, stopChild, waitReady, type Child } from './children.js'
import { CpuMeter, machineBusyPct, type CpuSnapshot } from './cpu.js'
import { liveAgents, type LiveFigures } from './live-agents.js'
import { openDesks, type DeskFigures } from './desks.js'
import { load, paced, round1, stopLoad } from './load.js'
import { adminQuery, benchAppEnv, deleteKeys, REDIS_URL } from './services.js'
import { smtpLoad, type SmtpFigures } from './smtp-load.js'
import { htmlView, htmlViewChecks, htmlViewLines, type HtmlViewFigures } from './html-view.js'
import {
  measureDrain,
  routingChecks,
  routingLines,
  ROUTING_TARGETS,
  sustainedPhases,
  type DrainFigures,
  type LoadFigures,
  type RoutingContext,
  type SustainedFigures
} from './sustained.js'

// ---------------------------------------------------------------- settings

const HOST = '127.0.0.1'
const APP_PORT = 3310
const BASELINE_PORT = 3311
const SMTP_PORT = 3312
// the base build of phase k, beside this one
const BASE_APP_PORT = 3313
const BASE_SMTP_PORT = 3314
const DB_NAME = 'switchboard_bench'
const DATABASE_URL = `postgres://postgres@${HOST}:5432/${DB_NAME}`
const QUEUE_PREFIX = 'sbbench'
const OPERATOR_API_KEY = 'bench-operator-key-0123456789abcdef0123456789'
const TWILIO_AUTH_TOKEN = 'bench-twilio-auth-token-0123456789ab'
const AGENT_TOKEN_SECRET = 'bench-agent-token-secret-0123456789abcdef'
const LIVE_AGENTS = 500
const DESK_AGENTS = 200 // phase w: desks open while web intake is measured
const LIVE_CONTACTS = 40 // at LIVE_PER_SECOND: each causes case.created, case.routed and message.created for every agent
const LIVE_PER_SECOND = 10

const intEnv = (name: string, def: number, min: number, max: number) => {
  const v = Number(process.env[name] ?? def)
  return Number.isInteger(v) && v >= min && v <= max ? v : def
}
const DURATION_S = intEnv('BENCH_DURATION_S', 8, 1, 20)
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 20, 1, 500)
const WARMUP_S = 5
// Mail servers each hold a session of their own, and smtp-server holds every greeting 100 ms
// (its early-talker check), so a session takes at least 100 ms whatever the app costs: the
// rate is at most sessions / 0.1 s. With 32 sessions that ceiling (about 270 messages/s once
// the commands' round trips are added) was what the phase measured, not the app. 100 is as
// many sessions as one Postfix MX serves at once by default (default_process_limit), and
// leaves the app's own cost, not the greeting, to set the rate.
const SMTP_SESSIONS = 100
// residents arrive on connections of their own: enough that the overload phase's answers
// are queued by the server, where shedding must happen, not by the load generator
const OVERLOAD_CONNECTIONS = 1500
const OVERLOAD_MAX_MS = 10_000
const DRAIN_TIMEOUT_MS = 30_000 // backlog of phase b, before phase d
const ROUTED_WAIT_MS = 20_000 // a phase d's cases routed and delivered
const IDLE_BUSY_PCT = 25 // machine CPU (% of one core) above which it does not count as idle
const IDLE_WAIT_MS = 15_000
const OTHER_CPU_WARN_PCT = 25 // CPU used by processes outside the bench during a phase

// checksCostPct: what this build may cost intake against the base build of phase k (issue 20: under 3 %)
const TARGETS = { intakeRps: 1500, intakeP99Ms: 50, ratioPct: 45, smsPctOfWeb: 70, smtpPctOfWeb: 25, smtpP99Ms: 100, liveP99Ms: 100, checksCostPct: 3, deskCostPct: 10 }

const APP_MAIN = join(root, 'dist', 'src', 'main.js')
const BASELINE_MAIN = join(root, 'dist', 'bench', 'baseline-server.js')

// ---------------------------------------------------------------- Postgres and Redis

async function recreateDatabase(): Promise<void> {
  await adminQuery(`drop database if exists ${DB_NAME} with (force)`)
  await adminQuery(`create database ${DB_NAME}`)
  const db = new pg.Client({ connectionString: DATABASE_URL })
  await db.connect()
  try {
    await db.query('create table bench_baseline (id bigserial primary key, payload jsonb, created_at timestamptz default now())')
  } finally {
    await db.end().catch(() => {})
  }
}

// ---------------------------------------------------------------- helpers

const fmt = (n: number | null, digits = 1) => (n === null || Number.isNaN(n) ? 'n/a' : n.toLocaleString('en-GB', { maximumFractionDigits: digits, minimumFractionDigits: 0 }))
const log = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`)

async function scalar<T>(db: pg.Pool, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.query(sql, params)
  return (rows[0] as Record<string, unknown> | undefined)?.v as T
}

/** Polls until `done()` is true or the time is up; returns the ms it took, or null on timeout. */
async function waitUntil(done: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<number | null> {
  const start = performance.now()
  while (performance.now() - start < timeoutMs) {
    if (await done()) return Math.round(performance.now() - start)
    await sleep(everyMs)
  }
  return (await done()) ? Math.round(performance.now() - start) : null
}

// ---------------------------------------------------------------- the run

/** aborted on cleanup: SMTP workers open no new sessions */
const smtpStop = new AbortController()

let app: Child | undefined
let baseline: Child | undefined
let cleaning: Promise<void> | null = null

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    stopLoad()
    smtpStop.abort()
    await Promise.all([stopChild(app), stopChild(baseline)])
    try {
      const n = await deleteKeys(`${QUEUE_PREFIX}:*`)
      log(`deleted ${n} Redis keys ${QUEUE_PREFIX}:*`)
    } catch (err) {
      console.error(`could not delete Redis keys ${QUEUE_PREFIX}:*: ${(err as Error).message}`)
    }
    if (process.env.BENCH_KEEP_DB === '1') {
      log(`kept database ${DB_NAME} (BENCH_KEEP_DB=1)`)
      return
    }
    try {
      await adminQuery(`drop database if exists ${DB_NAME} with (force)`)
      log(`dropped database ${DB_NAME}`)
    } catch (err) {
      console.error(`could not drop database ${DB_NAME}: ${(err as Error).message}`)
    }
  })()
  return cleaning
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping and cleaning up…`)
    void cleanup().finally(() => process.exit(130))
  })
}

interface Results {
  machine: { cpus: number; cpuModel: string; node: string; durationS: number; connections: number; busyBeforePct: number }
  /** rounds 1 and 2 */
  baseline: LoadFigures[]
  intake: LoadFigures[]
  /** both intake rounds over both baseline rounds */
  ratioPct: number
  /** d25, d50, d75: a steady share of the web intake rate (the mean of b1 and b2) */
  sustained: SustainedFigures[]
  /** s: signed Twilio SMS webhooks at full speed, rounds 1 and 2 (after b1 and b2) */
  sms: LoadFigures[]
  /** m: SMTP sessions at full speed, rounds 1 and 2 (after s1 and s2); cases counted in SQL */
  smtp: SmtpRound[]
  /** e: twice the intake rate; every answer 202, 429 or 503 within 10 s, every 202 stored */
  overload: LoadFigures & { rate: number; accepted: number; stored: number }
  /** l: 500 agents on the live view, event-to-agent delays */
  live: LiveFigures
  /** w: web intake without desks, with DESK_AGENTS desks open, and without again */
  desk: DeskFigures & { without: LoadFigures[]; with: LoadFigures; costPct: number }
  /** h: a mail with HTML nested 200,000 deep, its view timed with /health meanwhile; null without an SMTP listener */
  html: HtmlViewFigures | null
  /** after b1 and b2: the backlog routed and delivered */
  drain: DrainFigures[]
  /** k: intake of a base build (BENCH_BASE_REF) and this one, interleaved; null when skipped */
  cost: CostFigures | null
  cpu: Record<string, Record<string, number>>
  appLogLines: number
}

/** One SMTP round and what SQL found of it: cases opened by its senders, and how many senders. */
type SmtpRound = SmtpFigures & { cases: number; senders: number }

/**
 * The figures only mean something on an otherwise idle machine: wait (bounded) for it to be
 * quiet, and say so when it is not. Returns the busy percent last seen.
 */
async function waitForIdle(): Promise<number> {
  const deadline = performance.now() + IDLE_WAIT_MS
  let busy = await machineBusyPct(1_000)
  if (busy <= IDLE_BUSY_PCT) return busy
  log(`the machine is busy (${fmt(busy, 0)} % of one core used by other processes); waiting up to ${IDLE_WAIT_MS / 1000} s for it to be idle`)
  while (busy > IDLE_BUSY_PCT && performance.now() < deadline) busy = await machineBusyPct(1_000)
  if (busy > IDLE_BUSY_PCT) console.warn(`WARNING: the machine is still busy (${fmt(busy, 0)} % of one core); the figures below will be low. See the "other" CPU column.`)
  return busy
}

async function run(): Promise<number> {
  const busyBefore = await waitForIdle()
  const started = performance.now()
  log(`setup: database ${DB_NAME}, Redis prefix ${QUEUE_PREFIX}`)
  await recreateDatabase()
  await deleteKeys(`${QUEUE_PREFIX}:*`)

  const appNodeArgs = (process.env.BENCH_APP_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
  const appEnvironment = benchAppEnv(
    { databaseUrl: DATABASE_URL, queuePrefix: QUEUE_PREFIX, port: APP_PORT, smtpPort: SMTP_PORT },
    // what Twilio signs is the public URL: here, the address the bench calls
    { OPERATOR_API_KEY, AGENT_TOKEN_SECRET, TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL: `http://${HOST}:${APP_PORT}` }
  )
  app = startChild('app', APP_MAIN, [process.env.BENCH_APP_MODE ?? 'all'], appEnvironment, appNodeArgs)
  baseline = startChild('baseline', BASELINE_MAIN, [], { DATABASE_URL, REDIS_URL, QUEUE_PREFIX, PORT: String(BASELINE_PORT), HOST, NODE_ENV: 'production' })
  try {
    await Promise.all([waitReady(app, `http://${HOST}:${APP_PORT}/ready`), waitReady(baseline, `http://${HOST}:${BASELINE_PORT}/ready`)])
  } catch (err) {
    if (err instanceof StartError) {
      console.error(`\nFAILED TO START: ${err.message}`)
      if (err.child.tail.length) console.error(`last output of ${err.child.name}:\n  ${err.child.tail.join('\n  ')}`)
      return 1
    }
    throw err
  }
  log(`app and baseline ready in ${fmt((performance.now() - started) / 1000)} s`)

  const db = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
  db.on('error', () => {})
  const cpu = new CpuMeter({ app: app.proc.pid, baseline: baseline.proc.pid })
  const cpuByPhase: Record<string, Record<string, number>> = {}
  const measured = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
    const a: CpuSnapshot = cpu.snapshot()
    const out = await fn()
    cpuByPhase[phase] = cpu.between(a, cpu.snapshot())
    return out
  }
  const appUrl = `http://${HOST}:${APP_PORT}/v1/contacts`
  const smsUrl = `http://${HOST}:${APP_PORT}/channels/twilio/sms`
  const baselineUrl = `http://${HOST}:${BASELINE_PORT}/baseline`

  // Two rounds of a (baseline) then b (intake), each followed by a drain: the machine's
  // speed drifts by 20 % and more within a minute on a shared host, and interleaving keeps
  // that drift from landing on one side of the ratio.
  const intakeSoFar: LoadFigures[] = []
  const maxThroughput = async (round: 1 | 2, what: 'baseline' | 'intake' | 'sms'): Promise<LoadFigures> => {
    // intake bodies carry an email domain per phase, so SQL can tell the phases' cases apart
    const phase = { baseline: 'a', intake: 'b', sms: 's' }[what]
    const label = `${phase}${round}. ${what === 'sms' ? 'signed SMS intake' : what}`
    const url = what === 'baseline' ? baselineUrl : what === 'intake' ? appUrl : smsUrl
    // texts are signed ahead (enough for the phase at twice the web rate seen so far): on two
    // cores, HMAC work in the load generator would be taken from the app being measured
    const presign = Math.round(Math.max(...intakeSoFar.map((f) => f.rps), 1000) * 2 * DURATION_S)
    const source = (tag: string, domain?: string, ahead = 0) => (what === 'sms' ? smsSource(tag, TWILIO_AUTH_TOKEN, smsUrl, ahead) : bodySource(tag, domain))
    log(`${label}: warm-up ${WARMUP_S} s, then ${DURATION_S} s at ${CONNECTIONS} connections`)
    await load({ title: `${what} warm-up`, url, body: source(`${phase}warm${round}`, what === 'intake' ? 'warm.example.com' : undefined), seconds: WARMUP_S, connections: CONNECTIONS })
    const body = source(`${phase}max${round}`, undefined, presign) // made before the clock starts: signing is the load generator's work, not the app's
    const f = await measured(`${phase}${round}_${what}`, () => load({ title: what, url, body, seconds: DURATION_S, connections: CONNECTIONS }))
    log(`   ${fmt(f.rps)} req/s, p50 ${f.p50} ms, p99 ${f.p99} ms, non-2xx ${f.non2xx}`)
    if (what !== 'baseline' && (f.non2xx || f.errors)) {
      console.warn(`WARNING: intake answered ${f.non2xx} non-2xx and had ${f.errors} errors (statuses ${JSON.stringify(f.status)}); every request should be accepted`)
    }
    return f
  }
  // the backlog of b must be routed and delivered before the next phase, or that phase
  // measures b's queue; timed, it is the drain rate and the CPU per case (bench/sustained.ts)
  const routing: RoutingContext = { db, cpu, log, record: (phase, pct) => (cpuByPhase[phase] = pct) }

  // the backlog of a phase routed before the next one starts, unmeasured
  const settle = () =>
    waitUntil(
      async () => (await scalar<number>(db, `select ((select count(*) from cases where status = 'received') + (select count(*) from outbox where done_at is null))::int as v`)) === 0,
      DRAIN_TIMEOUT_MS
    )

  // m. mail servers' sessions to the app's own SMTP listener, one message each. smtp-server
  // holds every greeting 100 ms (its early-talker check, not configurable), so N sessions at
  // once cannot exceed about N × 10 messages/s, however fast the app commits them: hence
  // SMTP_SESSIONS rather than CONNECTIONS.
  const smtpIntake = async (round: 1 | 2): Promise<SmtpRound> => {
    log(`m${round}. SMTP intake: warm-up ${WARMUP_S} s, then ${DURATION_S} s at ${SMTP_SESSIONS} sessions at once (port ${SMTP_PORT})`)
    const smtp = { host: HOST, port: SMTP_PORT, connections: SMTP_SESSIONS, signal: smtpStop.signal }
    await smtpLoad({ ...smtp, source: mailSource(`mwarm${round}`, 'smtp-warm.example.com'), seconds: WARMUP_S })
    // the round's own sender domain, so SQL can find its cases
    const domain = `smtp${round}.example.com`
    const source = mailSource(`mmax${round}`, domain)
    // built before the clock starts (enough for the web rate seen so far): the load generator's work, not the app's
    source.prepare(Math.round(Math.max(...intakeSoFar.map((f) => f.rps), 1000) * DURATION_S))
    const f = await measured(`m${round}_smtp`, () => smtpLoad({ ...smtp, source, seconds: DURATION_S }))
    log(`   ${fmt(f.rps)} msg/s, final 250 p50 ${f.p50} ms, p99 ${f.p99} ms; ${f.accepted} × 250, ${f.tempFailed} × 4xx, ${f.rejected} × 5xx, ${f.errors} connection errors`)
    if (f.tempFailed || f.rejected || f.errors) {
      const down = f.accepted === 0 && f.errors > 0 ? ` (no SMTP answer on ${HOST}:${SMTP_PORT}: is the app's SMTP listener running?)` : ''
      console.warn(`WARNING: SMTP answers and errors ${JSON.stringify(f.replies)}${down}; every message should get 250`)
    }
    // counted at once: the app gives the 250 only once the message is committed
    const { rows } = await db.query<{ cases: number; senders: number }>(
      `select count(*)::int as cases, count(distinct reported_email)::int as senders from cases where channel = 'email' and reported_email like $1`,
      [`%@${domain}`]
    )
    const stored = { cases: rows[0]?.cases ?? 0, senders: rows[0]?.senders ?? 0 }
    log(`   stored: ${stored.cases} email cases from ${stored.senders} senders for ${f.accepted} × 250`)
    return { ...f, ...stored }
  }

  try {
    // k. first, while both databases are fresh: intake of an earlier build against this one
    const baseRef = process.env.BENCH_BASE_REF ?? DEFAULT_BASE_REF
    const build = baseRef === 'none' ? null : await buildBase(baseRef, log)
    // (not in the CPU table: that meter does not know the base app; k prints CPU per contact of its own)
    const cost = build
      ? await intakeCost({
          build, appEnv: appEnvironment, app: app!, mode: process.env.BENCH_APP_MODE ?? 'all', newUrl: appUrl, settleNew: settle, host: HOST, port: BASE_APP_PORT, smtpPort: BASE_SMTP_PORT,
          adminQuery, deleteKeys, warmupS: WARMUP_S, durationS: DURATION_S, connections: CONNECTIONS, log
        })
      : null
    if (process.env.BENCH_ONLY === 'k') {
      // weighing a change alone: k's lines and check, nothing else
      const k = costLines(cost, TARGETS.checksCostPct)
      console.log(['', ...k.lines, ...(k.check ? [`${k.check[0]}: ${k.check[1]} ${k.check[2] ? 'PASS' : 'FAIL'}`] : [])].join('\n'))
      return 0
    }

    const baselineFigs: LoadFigures[] = []
    const intakeFigs: LoadFigures[] = []
    const drains: Results['drain'] = []
    const smsFigs: LoadFigures[] = []
    const smtpFigs: SmtpRound[] = []
    for (const round of [1, 2] as const) {
      baselineFigs.push(await maxThroughput(round, 'baseline'))
      intakeFigs.push(await maxThroughput(round, 'intake'))
      intakeSoFar.push(intakeFigs[intakeFigs.length - 1]!)
      drains.push(await measureDrain(routing, round, intakeFigs[intakeFigs.length - 1]!.total, DRAIN_TIMEOUT_MS))
      // signed Twilio texts through the same intake, right after the web round they are compared with
      smsFigs.push(await maxThroughput(round, 'sms'))
      await settle()
      // mail from mail servers through the same intake, also compared with that web round
      smtpFigs.push(await smtpIntake(round))
      await settle()
    }

    // d25, d50, d75. intake-to-routed latency at a steady share of the web intake rate of
    // this run: the mean of b1 and b2, the figure the table gives as "b. intake, both rounds"
    const sustained = await sustainedPhases(routing, {
      url: appUrl,
      intakeRps: combined(intakeFigs).rps,
      durationS: DURATION_S,
      settleTimeoutMs: DRAIN_TIMEOUT_MS,
      routedWaitMs: ROUTED_WAIT_MS,
      paced
    })

    // l. the agents' live view: 500 agents of one partnership connected, contacts to its
    // councils at 10/s; every event's delay from its commit to each agent
    await settle()
    log(`l. ${LIVE_AGENTS} agents on /v1/agent/stream, ${LIVE_CONTACTS} contacts at ${LIVE_PER_SECOND}/s to their partnership`)
    const { rows: made } = await db.query<{ id: number }>(
      `insert into agents (partnership_id, email, role, password_hash)
       select 'tri-borough', 'bench-agent-' || g || '@switchboard.test', 'agent', 'bench' from generate_series(1, $1::int) g returning id`,
      [LIVE_AGENTS]
    )
    const signer = agentTokens(AGENT_TOKEN_SECRET, 60)
    let liveN = 0
    const live = await measured('l_live', () =>
      liveAgents({
        url: `ws://${HOST}:${APP_PORT}`,
        tokens: made.map((r) => signer.sign({ agentId: r.id, partnershipId: 'tri-borough', role: 'agent' })),
        contacts: LIVE_CONTACTS,
        perSecond: LIVE_PER_SECOND,
        settleMs: 3_000,
        contact: async () => {
          const body = JSON.stringify({ email: `live.${++liveN}@live.example.com`, postcode: 'SW1A 1AA', description: 'Fly-tipping behind the shops' })
          await fetch(appUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.arrayBuffer())
        }
      })
    )
    log(`   ${live.connected}/${live.agents} connected; ${live.events} events, ${live.deliveries} deliveries (${live.missing} missing); p50 ${live.p50} ms, p99 ${live.p99} ms`)

    // w. the agents' desks: web intake without desks, with DESK_AGENTS open (each its socket
    // and first load, as src/desk does, then receiving every live event of its partnership),
    // and without again, so the machine's drift falls on both sides
    const deskIntake = async (label: string) => {
      await settle()
      return measured(label, () => load({ title: label, url: appUrl, body: bodySource(label), seconds: DURATION_S, connections: CONNECTIONS }))
    }
    log(`w. web intake without desks, with ${DESK_AGENTS} agents' desks open, and without again (${DURATION_S} s each)`)
    const w1 = await deskIntake('w1_without')
    const desks = await openDesks(
      { http: `http://${HOST}:${APP_PORT}`, ws: `ws://${HOST}:${APP_PORT}` },
      made.slice(0, DESK_AGENTS).map((r) => signer.sign({ agentId: r.id, partnershipId: 'tri-borough', role: 'agent' }))
    )
    const receivedBefore = await desks.received()
    const w2 = await deskIntake('w2_with')
    const deskFigures = { ...desks.figures, eventsReceived: (await desks.received()) - receivedBefore }
    await desks.close()
    const w3 = await deskIntake('w3_without')
    const desk: Results['desk'] = { ...deskFigures, without: [w1, w3], with: w2, costPct: round1(100 * (1 - w2.rps / ((w1.rps + w3.rps) / 2))) }
    log(`   ${desk.connected}/${desk.agents} desks open (p50 ${desk.openP50} ms, p99 ${desk.openP99} ms to first load); intake ${fmt(w1.rps)} / ${fmt(w2.rps)} with / ${fmt(w3.rps)} req/s: cost ${fmt(desk.costPct)} %; ${fmt(desk.eventsReceived)} frames to desks`)

    // e. overload: twice the intake rate just measured. Every answer must be a clear one
    // (202 stored, 429, or 503 with Retry-After) within 10 s; nothing may hang or be lost.
    const overloadRate = Math.max(50, Math.round(2 * combined(intakeFigs).rps))
    log(`e. overload: ${overloadRate}/s (twice the measured intake) for ${DURATION_S} s (${OVERLOAD_CONNECTIONS} connections)`)
    const overloadDomain = 'overload.example.com'
    const overFig = await measured('e_overload', () =>
      paced({ url: appUrl, body: bodySource('over', overloadDomain), rate: overloadRate, seconds: DURATION_S, connections: OVERLOAD_CONNECTIONS })
    )
    const stored = await scalar<number>(db, `select count(*)::int as v from cases where reported_email like $1`, [`%@${overloadDomain}`])
    const overload: Results['overload'] = { ...overFig, rate: overloadRate, accepted: overFig.status['202'] ?? 0, stored }
    log(`   answers ${JSON.stringify(overFig.status)}, p99 ${overFig.p99} ms, slowest ${overFig.max} ms, ${overFig.timeouts} timed out, ${overFig.errors} errors; ${stored} stored`)

    // h. one hostile mail must not hold the event loop: its HTML view timed, /health meanwhile
    await settle()
    const html = process.env.BENCH_APP_MODE === 'api'
      ? null
      : await measured('h_html', () => htmlView({ base: `http://${HOST}:${APP_PORT}`, host: HOST, smtpPort: SMTP_PORT, operatorKey: OPERATOR_API_KEY, log }))

    const results: Results = {
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version, durationS: DURATION_S, connections: CONNECTIONS, busyBeforePct: busyBefore },
      baseline: baselineFigs,
      intake: intakeFigs,
      ratioPct: ratioOf(baselineFigs, intakeFigs),
      sustained,
      overload,
      sms: smsFigs,
      smtp: smtpFigs,
      live,
      desk,
      html,
      cost,
      drain: drains,
      cpu: cpuByPhase,
      appLogLines: app.lines
    }
    report(results)
    return 0
  } finally {
    await db.end().catch(() => {})
  }
}

// ---------------------------------------------------------------- report

/** Rounds taken together: requests/s over all of them, the worse p99, every failure. */
function combined(figs: LoadFigures[]): Pick<LoadFigures, 'rps' | 'p99' | 'non2xx' | 'errors'> {
  return {
    rps: round1(figs.reduce((n, f) => n + f.rps, 0) / Math.max(figs.length, 1)),
    p99: Math.max(...figs.map((f) => f.p99)),
    non2xx: figs.reduce((n, f) => n + f.non2xx, 0),
    errors: figs.reduce((n, f) => n + f.errors, 0)
  }
}

/** An SMTP round in the table's terms: 4xx and 5xx answers are its non-2xx. */
function smtpAsLoad(f: SmtpFigures): LoadFigures {
  return { rps: f.rps, total: f.total, p50: f.p50, p99: f.p99, max: f.max, non2xx: f.tempFailed + f.rejected, errors: f.errors, timeouts: f.timeouts, status: f.replies }
}

function ratioOf(baseline: LoadFigures[], intake: LoadFigures[]): number {
  const a = baseline.reduce((n, f) => n + f.rps, 0)
  const b = intake.reduce((n, f) => n + f.rps, 0)
  return a > 0 ? round1((b / a) * 100) : 0
}

function report(r: Results): void {
  const pad = (s: string, n: number) => s.padEnd(n)
  const lpad = (s: string, n: number) => s.padStart(n)
  const row = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? pad(c, widths[i] ?? 0) : lpad(c, widths[i] ?? 0))).join('  ')
  const w = [38, 10, 9, 9, 8, 7, 9]
  const line = '-'.repeat(w.reduce((a, b) => a + b + 2, -2))
  const fig = (label: string, f: LoadFigures) => row([label, fmt(f.rps), fmt(f.p50, 2), fmt(f.p99, 2), String(f.non2xx), String(f.errors), String(f.total)], w)

  console.log('')
  console.log(`Switchboard bench — ${r.machine.cpus} × ${r.machine.cpuModel}, node ${r.machine.node}, ${r.machine.durationS} s per phase`)
  console.log(line)
  console.log(row(['phase', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'requests'], w))
  console.log(line)
  r.baseline.forEach((f, i) => {
    console.log(fig(`a${i + 1}. baseline POST /baseline (${r.machine.connections}c)`, f))
    const b = r.intake[i]
    if (b) console.log(fig(`b${i + 1}. intake POST /v1/contacts (${r.machine.connections}c)`, b))
    const t = r.sms[i]
    if (t) console.log(fig(`s${i + 1}. signed SMS (${r.machine.connections}c)`, t))
    const m = r.smtp[i]
    if (m) console.log(fig(`m${i + 1}. SMTP intake (${SMTP_SESSIONS} sessions)`, smtpAsLoad(m)))
  })
  for (const d of r.sustained) console.log(fig(`d${d.sharePct}. intake at ${d.sharePct} %, ${d.rate}/s (${d.connections}c)`, d))
  console.log(fig(`e. overload at ${r.overload.rate}/s (${OVERLOAD_CONNECTIONS}c)`, r.overload))
  console.log(
    row([`l. live view, ${r.live.connected} agents`, fmt(r.live.deliveries), fmt(r.live.p50, 2), fmt(r.live.p99, 2), String(r.live.missing), '', String(r.live.events)], w) +
      '  (deliveries, p50/p99 ms event→agent, missing, events)'
  )
  console.log(fig(`w1. intake, no desks (${r.machine.connections}c)`, r.desk.without[0]!))
  console.log(fig(`w2. intake, ${r.desk.connected} desks open`, r.desk.with))
  console.log(fig(`w3. intake, no desks again`, r.desk.without[1]!))
  console.log(line)
  const intake = combined(r.intake)
  console.log(`b. intake, both rounds: ${fmt(intake.rps)} req/s, p99 ${fmt(intake.p99, 2)} ms (the worse round)`)
  const sms = combined(r.sms)
  const smsPct = intake.rps > 0 ? round1((sms.rps / intake.rps) * 100) : 0
  console.log(`s. signed SMS intake, both rounds: ${fmt(sms.rps)} req/s, p99 ${fmt(sms.p99, 2)} ms (the worse round); ${fmt(smsPct)} % of the web intake rate`)
  const smtp = combined(r.smtp.map(smtpAsLoad))
  const smtpPct = intake.rps > 0 ? round1((smtp.rps / intake.rps) * 100) : 0
  const smtpAccepted = r.smtp.reduce((n, f) => n + f.accepted, 0)
  // with no 250 there is no p99 of it: n/a, and its check fails
  const smtpP99 = smtpAccepted > 0 ? smtp.p99 : null
  const smtpStored = r.smtp.every((f) => f.cases === f.accepted && f.senders === f.accepted)
  console.log(`m. SMTP intake, both rounds: ${fmt(smtp.rps)} msg/s, p99 ${fmt(smtpP99, 2)} ms (the final 250, the worse round); ${fmt(smtpPct)} % of the web intake rate`)
  r.smtp.forEach((f, i) =>
    console.log(
      `   (m${i + 1}: ${f.accepted} × 250, ${f.tempFailed} × 4xx, ${f.rejected} × 5xx, ${f.errors} connection errors; ` +
        `${f.cases} cases stored from ${f.senders} senders; whole session p99 ${fmt(f.sessionP99, 1)} ms)`
    )
  )
  console.log(`c. ratio intake ÷ baseline, both rounds: ${fmt(r.ratioPct)} % (round 1: ${fmt(ratioOf(r.baseline.slice(0, 1), r.intake.slice(0, 1)))} %, round 2: ${fmt(ratioOf(r.baseline.slice(1), r.intake.slice(1)))} %)`)
  // what a contact cost while contacts poured in (routing and delivery of the same contacts
  // run meanwhile, so this is the whole pipeline's cost at that rate); phase k gives the same
  // figure against the base build
  const perContact = (who: 'postgres' | 'app', i: number) => {
    const pct = r.cpu[`b${i + 1}_intake`]?.[who]
    const f = r.intake[i]
    return pct !== undefined && f && f.total > 0 ? fmt(((pct / 100) * r.machine.durationS * 1000) / f.total, 3) : 'n/a'
  }
  console.log(
    `b. CPU per contact at full speed: Postgres ${r.intake.map((_, i) => perContact('postgres', i)).join(' and ')} ms, ` +
      `the app ${r.intake.map((_, i) => perContact('app', i)).join(' and ')} ms (rounds 1 and 2)`
  )
  for (const l of routingLines(r.drain, r.sustained, intake.rps)) console.log(l)
  const cost = costLines(r.cost, TARGETS.checksCostPct)
  for (const l of cost.lines) console.log(l)
  if (r.html) for (const l of htmlViewLines(r.html)) console.log(l)

  const o = r.overload
  const clearAnswers = Object.keys(o.status).every((code) => ['202', '429', '503'].includes(code))
  console.log(
    `e. overload at twice the intake rate (${o.rate}/s): answers ${Object.entries(o.status).map(([c, n]) => `${n} × ${c}`).join(', ') || 'none'}; ` +
      `slowest ${fmt(o.max ?? null, 0)} ms, ${o.timeouts} timed out, ${o.errors} connection errors; ${o.stored} stored for ${o.accepted} accepted`
  )

  const checks: [string, string, boolean][] = [
    [`intake ≥ ${fmt(TARGETS.intakeRps, 0)} contacts/s`, `${fmt(intake.rps)}/s`, intake.rps >= TARGETS.intakeRps],
    [`intake p99 < ${TARGETS.intakeP99Ms} ms (at max throughput)`, `${fmt(intake.p99, 2)} ms`, intake.p99 < TARGETS.intakeP99Ms],
    [`intake all 2xx`, `${intake.non2xx} non-2xx, ${intake.errors} errors`, intake.non2xx === 0 && intake.errors === 0],
    [`ratio ≥ ${TARGETS.ratioPct} %`, `${fmt(r.ratioPct)} %`, r.ratioPct >= TARGETS.ratioPct],
    [`signed SMS ≥ ${TARGETS.smsPctOfWeb} % of web intake`, `${fmt(smsPct)} %`, smsPct >= TARGETS.smsPctOfWeb],
    [`signed SMS p99 < ${TARGETS.intakeP99Ms} ms`, `${fmt(sms.p99, 2)} ms`, sms.p99 < TARGETS.intakeP99Ms],
    [`signed SMS all 2xx`, `${sms.non2xx} non-2xx, ${sms.errors} errors`, sms.non2xx === 0 && sms.errors === 0],
    [`SMTP intake ≥ ${TARGETS.smtpPctOfWeb} % of web intake`, `${fmt(smtpPct)} %`, smtpPct >= TARGETS.smtpPctOfWeb],
    [`SMTP p99 of the final 250 < ${TARGETS.smtpP99Ms} ms`, `${fmt(smtpP99, 2)} ms`, smtpP99 !== null && smtpP99 < TARGETS.smtpP99Ms],
    [`SMTP every message 250`, `${smtp.non2xx} 4xx/5xx, ${smtp.errors} errors`, smtp.non2xx === 0 && smtp.errors === 0 && smtpAccepted > 0],
    [`SMTP every 250 stored`, `${r.smtp.reduce((n, f) => n + f.cases, 0)} cases of ${smtpAccepted}`, smtpStored && smtpAccepted > 0],
    ...routingChecks(r.drain, r.sustained, intake.rps),
    [
      `overload: every answer 202/429/503 in < ${OVERLOAD_MAX_MS / 1000} s`,
      `${fmt(o.max ?? null, 0)} ms slowest, ${o.timeouts + o.errors} lost`,
      clearAnswers && o.errors === 0 && o.timeouts === 0 && (o.max ?? Infinity) < OVERLOAD_MAX_MS && o.total > 0
    ],
    [`overload: every 202 stored`, `${o.stored} of ${o.accepted}`, o.stored === o.accepted],
    ...(cost.check ? [cost.check] : []),
    ...(r.html ? htmlViewChecks(r.html) : []),
    [`live view: ${LIVE_AGENTS} agents, event→agent p99 < ${TARGETS.liveP99Ms} ms`, `${fmt(r.live.p99, 0)} ms, ${r.live.connected} connected`, r.live.connected === LIVE_AGENTS && r.live.events > 0 && r.live.p99 < TARGETS.liveP99Ms],
    [`live view: every event to every agent`, `${r.live.missing} missing`, r.live.missing === 0 && r.live.events > 0],
    [
      `desks: ${DESK_AGENTS} open cost < ${TARGETS.deskCostPct} % of web intake`,
      `${fmt(r.desk.costPct)} %, ${r.desk.connected} open`,
      r.desk.connected === DESK_AGENTS && r.desk.costPct < TARGETS.deskCostPct
    ]
  ]
  console.log('')
  console.log(row(['target', 'measured', 'result'], [50, 30, 6]))
  console.log('-'.repeat(90))
  for (const [t, m, ok] of checks) console.log(row([t, m, ok ? 'PASS' : 'FAIL'], [50, 30, 6]))

  const parts = ['app', 'baseline', 'bench', 'postgres', 'redis', 'other', 'machine']
  const cw = [12, ...parts.map(() => 9)]
  console.log('')
  console.log(`CPU per phase, % of one core (${r.machine.cpus} cores = ${r.machine.cpus * 100} %; "bench" is this process, the load generator)`)
  console.log(row(['phase', ...parts], cw))
  for (const [phase, c] of Object.entries(r.cpu)) console.log(row([phase, ...parts.map((p) => fmt(c[p] ?? null, 0))], cw))
  const disturbed = Object.entries(r.cpu).filter(([, c]) => (c.other ?? 0) > OTHER_CPU_WARN_PCT)
  if (disturbed.length) {
    console.warn(`WARNING: other processes used CPU during ${disturbed.map(([p, c]) => `${p} (${fmt(c.other ?? 0, 0)} %)`).join(', ')}: the machine was not idle, so these figures are understated`)
  }
  if (r.appLogLines) console.log(`\nthe app wrote ${r.appLogLines} log lines at warn level or above; last ones:\n  ${app?.tail.slice(-5).join('\n  ')}`)
  console.log('')
  console.log(`BENCH_RESULT ${JSON.stringify({ ...r, targets: { ...TARGETS, ...ROUTING_TARGETS }, pass: Object.fromEntries(checks.map(([t, , ok]) => [t, ok])) })}`)
}

// ---------------------------------------------------------------- main

let code = 1
try {
  code = await run()
} catch (err) {
  console.error('bench failed:', err)
  code = 1
} finally {
  await cleanup()
}
process.exit(code)
