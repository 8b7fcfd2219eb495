/**
 * The bench's routing phases (called from bench/run.ts): how fast the backlog of an intake
 * round is routed and delivered, what that costs the machine per case, and how soon a
 * contact is routed when contacts arrive steadily at a share of the intake rate.
 *
 * Where a case's cost went before issue 13 (`npm run bench:drain`, 6,000 cases, with
 * pg_stat_statements; 188 cases/s on this 2-core machine, 7.0 ms of machine CPU per case):
 *   Postgres execution, per case:
 *     route placement write (one CTE: cases update, two events, delivery, outbox)  1.02 ms
 *     delivery settle ('kept')                                                     0.35 ms
 *     delivery claim                                                               0.16 ms
 *     route read                                                                   0.09 ms
 *   The rest of Postgres's CPU (about 1 ms per case; 2.6 ms in all) is parsing, the wire
 *   protocol and three commits per case.
 *   Workers process: 2.7 ms per case (two BullMQ jobs per case: route, then deliver).
 *   Redis: 0.7 ms per case.
 *
 * After (same machine and command, 591 cases/s, 2.1 ms of machine CPU per case): routing
 * places the cases waiting as one batch (one read, one write of ~80 cases each) and delivery
 * claims, looks up and records in sets (~22 deliveries per statement):
 *   Postgres execution, per case:
 *     route placement write, per case of a batch                                   0.33 ms
 *     delivery settle, per delivery of a set                                       0.21 ms
 *     route read                                                                   0.02 ms
 *     delivery claim and look-up                                                   0.03 ms
 *   Postgres CPU 0.56 ms per case in all (fewer statements and commits); workers process
 *   1.16 ms (still two BullMQ jobs per case); Redis 0.28 ms. With the ids passed as arrays
 *   (so the batch statements use indexes however large the tables grow) and 20,000 cases:
 *   813 cases/s, 1.9 ms per case, the settle 0.09 ms per delivery.
 *   Where the workers' own CPU goes (DRAIN_PROFILE=1, 10,000 cases, share of busy time):
 *   building the team mails (nodemailer, the demo transport builds each whole) 15 %, Redis
 *   and BullMQ (ioredis 9 %, bullmq 6 %, most of the 10 % in socket writes) about a quarter,
 *   garbage collection 11 %, random bytes for ids 4 %, pg 5 %, routing and delivery code 5 %,
 *   module loading at start 4 %; JSON serialisation does not show.
 *
 * Then, fewer hops (`npm run bench`, the all-in-one process): the workers on a thread of
 * their own; new cases handed to it as messages and routed cases handed straight to
 * delivery, so no BullMQ job carries a case on its first way through (Redis CPU per case
 * went from 0.33 ms to nothing measurable); and routing batches at most every
 * ROUTE_BATCH_GAP_MS while cases keep coming. On this VM every round trip is dear (socket
 * writes were a quarter of the workers' thread in a profile at 120 contacts/s), and at a
 * steady 300 contacts/s routing had run almost one case per statement, each planned afresh:
 * with the gap, batches of about eight, and the machine's CPU at that rate fell from about
 * 19 to 13 s per 10 s. The bench then drained 1,868 cases/s at 1.07 ms of machine CPU per
 * case (Postgres 0.36-0.8, the app 0.22), and web intake itself rose from about 700 to
 * 1,256 contacts/s, Redis being off its path too.
 *
 * Then, plans that age (a steady 700 contacts/s on a database grown to 30,000 cases, with
 * auto_explain and per-connection CPU from /proc): the workers' statements cost 1.0-1.1 ms
 * of Postgres per case, against 0.35 ms on an empty database. Their plans were generic ones
 * Postgres had settled on while the tables were young (a sequential scan of cases to lock a
 * batch, a whole scan of another index per case to update it, a sequential scan of
 * deliveries to settle), kept for the connection's life because nothing ANALYZEs here
 * (autovacuum is off on these machines; in production an autoanalyze would replace them).
 * The workers' pool now plans each statement for its batch (plan_cache_mode
 * force_custom_plan): 0.35-0.5 ms per case at any size, and intake p99 at that rate fell
 * from 106-120 ms to 26 ms. Setting SLA clocks in the route write (no second write of each
 * case by the clock worker, whose 500-case passes fell ever further behind above 33 cases/s)
 * first cost the workers' thread 30 % of its time in Intl time-zone look-ups; each calendar
 * now keeps the days it has walked. The bench then gave d50 at 749/s: intake p99 17 ms,
 * routed p99 58 ms.
 *
 * The phases:
 *   drain (after each intake round b1, b2): from the moment the round ends until no case is
 *     'received', no delivery is 'pending' and no outbox row is open (at most drainTimeoutMs).
 *     The rate is the cases routed (or sent to triage) and delivered in that window over its
 *     length, the window ending at the last settle Postgres recorded (the poll's 250 ms step
 *     would otherwise count as draining). Drained or not, the rate is what was done in the
 *     time. CPU per case: the machine's CPU (every process) over the window, and that of the
 *     app, Postgres and Redis alone, divided by the same cases.
 *     Routing runs while the round does, so the backlog is only what it had not reached
 *     when the round ended (a few hundred cases of 10,000 or more, once routing kept pace);
 *     the report gives the round's contacts beside it. `npm run bench:drain` times a whole
 *     backlog of 6,000 (DRAIN_CASES) with nothing else running.
 *   d25, d50, d75: POST /v1/contacts for durationS at a steady 25 %, 50 % and 75 % of the web
 *     intake rate of the same run (the mean of b1 and b2, the "b. intake, both rounds"
 *     figure), open loop (bench/run.ts's `paced`), each phase's bodies with their own email
 *     domain so SQL selects its cases alone. Intake p50/p99 from the load generator;
 *     intake → routed p50/p99 in SQL (routed_at - created_at) once the phase's cases are
 *     routed and delivered (bounded); machine CPU while sending, and CPU per case from the
 *     first request until the phase's last case is delivered (intake, routing and delivery).
 *     The backlog is settled before each phase.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type pg from 'pg'
import { bodySource } from './bodies.js'
import type { CpuMeter } from './cpu.js'

/** What one load phase measured (autocannon or bench/run.ts's paced load). */
export interface LoadFigures {
  rps: number // autocannon's mean of per-second samples
  total: number
  p50: number
  p99: number
  /** the slowest answer, ms (paced load only; autocannon does not give it) */
  max?: number
  non2xx: number
  errors: number
  timeouts: number
  status: Record<string, number>
}

/**
 * Machine CPU (all processes) per routed and delivered case before issue 13's changes:
 * 7.0 ms, measured with `npm run bench:drain` on this 2-core machine (workers 2.7 ms,
 * Postgres 2.6 ms, Redis 0.7 ms per case, 188 cases/s); an earlier full `npm run bench`
 * drain measured about 9.5 ms. The target is a third of it.
 */
export const CPU_MS_PER_CASE_BEFORE = 7.0
export const SUSTAINED_SHARES = [25, 50, 75] as const
export const ROUTING_TARGETS = {
  /** intake → routed p99 at 50 % of the intake rate */
  halfRateRoutedP99Ms: 1000,
  /** intake p99 at 50 % of the intake rate */
  halfRateIntakeP99Ms: 50,
  /** backlog drain rate ÷ web intake rate */
  drainRatio: 1.0,
  cpuMsPerCaseBefore: CPU_MS_PER_CASE_BEFORE,
  cpuMsPerCase: Math.round((CPU_MS_PER_CASE_BEFORE / 3) * 100) / 100
}

const POLL_MS = 250 // the settle poll counts cases with a scan: not so often that it shows in the CPU figures
const MIN_CONNECTIONS = 50
const PER_CONNECTION_PER_S = 10 // as phase d always had: 500/s over 50 connections, so no request waits for one

/** CPU ms per case: the whole machine, the app + Postgres + Redis, and each of them. */
export interface CpuPerCase {
  machine: number
  services: number
  app: number
  postgres: number
  redis: number
}

export interface DrainFigures {
  round: number
  /** cases not yet routed and delivered when the intake round ended */
  backlog: number
  /** contacts the round's measured seconds stored: those not in the backlog were routed and delivered while it ran */
  roundContacts: number
  /** of those, routed (or sent to triage) and delivered within the window */
  done: number
  /** still waiting when the window closed (0 when drained) */
  left: number
  drained: boolean
  /** the window, ms: from the round's end to the last settle (or to the timeout) */
  ms: number
  /** cases routed and delivered per second in the window; null only if there was no backlog */
  perS: number | null
  cpuMs: Record<string, number>
  cpuMsPerCase: CpuPerCase | null
}

export interface SustainedFigures extends LoadFigures {
  sharePct: number
  /** the requested arrival rate, contacts/s */
  rate: number
  /** the web intake rate it is a share of */
  ofRate: number
  connections: number
  cases: number
  routed: number
  triaged: number
  /** still 'received' when the wait ended */
  unrouted: number
  /** routed, but a delivery still 'pending' when the wait ended */
  undelivered: number
  routedP50Ms: number | null
  routedP99Ms: number | null
  routedMaxMs: number | null
  /** from the last request to the phase's last case delivered; null if it did not happen within the wait */
  settledMs: number | null
  /** machine CPU while sending, % of one core */
  machinePctSending: number
  cpuMs: Record<string, number>
  /** intake, routing and delivery of the phase's cases, from the first request until they were delivered */
  cpuMsPerCase: CpuPerCase | null
}

export interface RoutingContext {
  db: pg.Pool
  cpu: CpuMeter
  log: (msg: string) => void
  /** stores a phase's CPU (% of one core) for the CPU table */
  record: (phase: string, pct: Record<string, number>) => void
}

const round1 = (n: number) => Math.round(n * 10) / 10
const round2 = (n: number) => Math.round(n * 100) / 100
const fmt = (n: number | null, digits = 1) => (n === null || Number.isNaN(n) ? 'n/a' : n.toLocaleString('en-GB', { maximumFractionDigits: digits, minimumFractionDigits: 0 }))

async function scalar<T>(db: pg.Pool, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.query(sql, params)
  return (rows[0] as Record<string, unknown> | undefined)?.v as T
}

/** Nothing 'received' and no outbox row open: the pipeline has caught up (the cheap check, polled). */
const SETTLED_SQL = `select ((select count(*) from cases where status = 'received') + (select count(*) from outbox where done_at is null))::int as v`

/** Cases not yet routed and delivered (a routed case's delivery is 'pending' until the deliver step settles it). */
const WAITING_SQL = `select ((select count(*) from cases where status = 'received') + (select count(distinct case_id) from deliveries where state = 'pending'))::int as v`

/** Polls the settled check until true or the time is up; true if it settled. */
async function waitSettled(db: pg.Pool, timeoutMs: number): Promise<boolean> {
  const start = performance.now()
  for (;;) {
    if ((await scalar<number>(db, SETTLED_SQL)) === 0) return true
    if (performance.now() - start >= timeoutMs) return false
    await sleep(POLL_MS)
  }
}

function perCase(ms: Record<string, number>, cases: number): CpuPerCase | null {
  if (cases <= 0) return null
  const of = (k: string) => round2((ms[k] ?? 0) / cases)
  return {
    machine: of('machine'),
    services: round2(((ms.app ?? 0) + (ms.postgres ?? 0) + (ms.redis ?? 0)) / cases),
    app: of('app'),
    postgres: of('postgres'),
    redis: of('redis')
  }
}

function pctOf(ms: Record<string, number>): Record<string, number> {
  const wall = ms.wall ?? 0
  if (wall <= 0) return {}
  return Object.fromEntries(Object.entries(ms).filter(([k]) => k !== 'wall').map(([k, v]) => [k, Math.round((v / wall) * 1000) / 10]))
}

/**
 * The backlog an intake round left, routed and delivered: call right after the round ends.
 * Nothing else sends contacts meanwhile, so what leaves the backlog is the drain's work.
 */
export async function measureDrain(ctx: RoutingContext, round: number, roundContacts: number, timeoutMs: number): Promise<DrainFigures> {
  const { db, cpu } = ctx
  const a = cpu.snapshot()
  const { rows: start } = await db.query<{ t0: Date; backlog: number }>(`select clock_timestamp() as t0, (${WAITING_SQL}) as backlog`)
  const t0 = start[0]!.t0
  const backlog = start[0]!.backlog
  ctx.log(`   drain: ${backlog} cases waiting to be routed and delivered (at most ${timeoutMs / 1000} s)`)
  const drained = await waitSettled(db, timeoutMs)
  const b = cpu.snapshot()
  // the window ends at the last settle Postgres recorded, when drained; at the timeout otherwise
  const { rows: end } = await db.query<{ ms: number; waiting: number }>(
    `select extract(epoch from (case when $2::boolean then coalesce(greatest(
              (select max(routed_at) from cases where routed_at >= $1::timestamptz),
              (select max(updated_at) from deliveries where updated_at >= $1::timestamptz),
              (select max(done_at) from outbox where done_at >= $1::timestamptz)), clock_timestamp()) else clock_timestamp() end) - $1::timestamptz) * 1000 as ms,
            (${WAITING_SQL}) as waiting`,
    [t0, drained]
  )
  const left = end[0]!.waiting
  const ms = Math.max(1, Math.round(Number(end[0]!.ms)))
  const done = Math.max(0, backlog - left)
  const cpuMs = cpu.msBetween(a, b)
  ctx.record(`drain${round}`, cpu.between(a, b))
  const fig: DrainFigures = {
    round,
    backlog,
    roundContacts,
    done,
    left,
    drained,
    ms,
    perS: backlog > 0 ? round1((done / ms) * 1000) : null,
    cpuMs,
    cpuMsPerCase: perCase(cpuMs, done)
  }
  ctx.log(
    `   ${drained ? 'drained' : `NOT drained (${left} left)`}: ${done} cases in ${fmt(ms / 1000, 2)} s, ${fmt(fig.perS, 0)} cases/s; ` +
      `machine CPU ${fmt(fig.cpuMsPerCase?.machine ?? null, 2)} ms per case (before issue 13: ${CPU_MS_PER_CASE_BEFORE.toFixed(1)} ms)`
  )
  return fig
}

/** The drains taken together: all their cases over all their time, all their CPU over all their cases. */
export function drainTotals(drains: DrainFigures[]): { done: number; ms: number; perS: number | null; cpuMsPerCase: CpuPerCase | null; allDrained: boolean } {
  const done = drains.reduce((n, d) => n + d.done, 0)
  const ms = drains.reduce((n, d) => n + d.ms, 0)
  const cpuMs: Record<string, number> = {}
  for (const d of drains) for (const [k, v] of Object.entries(d.cpuMs)) cpuMs[k] = (cpuMs[k] ?? 0) + v
  const anyBacklog = drains.some((d) => d.backlog > 0)
  return { done, ms, perS: anyBacklog && ms > 0 ? round1((done / ms) * 1000) : null, cpuMsPerCase: perCase(cpuMs, done), allDrained: drains.every((d) => d.drained) }
}

/**
 * d25, d50, d75: contacts at a steady share of the intake rate, each phase after the backlog
 * has settled. `paced` is bench/run.ts's open-loop load (latency counted from when each
 * request was due).
 */
export async function sustainedPhases(
  ctx: RoutingContext,
  opts: {
    url: string
    intakeRps: number
    durationS: number
    settleTimeoutMs: number
    routedWaitMs: number
    paced: (o: { url: string; body: { next(): string }; rate: number; seconds: number; connections: number }) => Promise<LoadFigures>
  }
): Promise<SustainedFigures[]> {
  const { db, cpu } = ctx
  const out: SustainedFigures[] = []
  for (const share of SUSTAINED_SHARES) {
    if (!(await waitSettled(db, opts.settleTimeoutMs))) ctx.log(`   the backlog had not settled after ${opts.settleTimeoutMs / 1000} s; d${share} starts with it`)
    const rate = Math.max(1, Math.round((opts.intakeRps * share) / 100))
    const connections = Math.max(MIN_CONNECTIONS, Math.ceil(rate / PER_CONNECTION_PER_S))
    const domain = `d${share}.example.com`
    ctx.log(`d${share}. ${share} % of the web intake rate (${fmt(opts.intakeRps)}/s, mean of b1 and b2): ${rate}/s for ${opts.durationS} s (${connections} connections)`)
    const a = cpu.snapshot()
    const load = await opts.paced({ url: opts.url, body: bodySource(`d${share}`, domain), rate, seconds: opts.durationS, connections })
    const b = cpu.snapshot()
    ctx.record(`d${share}_sending`, cpu.between(a, b))
    if (load.non2xx || load.errors) ctx.log(`   WARNING: at ${rate}/s intake answered ${load.non2xx} non-2xx and had ${load.errors} errors (statuses ${JSON.stringify(load.status)})`)
    const like = `%@${domain}`
    const sentAt = performance.now()
    const waiting = () =>
      scalar<number>(
        db,
        `select ((select count(*) from cases where reported_email like $1 and status = 'received')
               + (select count(distinct d.case_id) from deliveries d join cases c on c.id = d.case_id where c.reported_email like $1 and d.state = 'pending'))::int as v`,
        [like]
      )
    let settled = false
    for (;;) {
      if ((await waiting()) === 0) {
        settled = true
        break
      }
      if (performance.now() - sentAt >= opts.routedWaitMs) break
      await sleep(POLL_MS)
    }
    const settledMs = settled ? Math.round(performance.now() - sentAt) : null
    const c = cpu.snapshot()
    const { rows } = await db.query<{ cases: number; routed: number; triaged: number; unrouted: number; undelivered: number; p50: number | null; p99: number | null; max: number | null }>(
      `select count(*)::int as cases,
              count(*) filter (where routed_at is not null)::int as routed,
              count(*) filter (where status = 'triage')::int as triaged,
              count(*) filter (where status = 'received')::int as unrouted,
              count(*) filter (where exists (select 1 from deliveries d where d.case_id = c.id and d.state = 'pending'))::int as undelivered,
              percentile_cont(0.5) within group (order by extract(epoch from routed_at - created_at) * 1000) as p50,
              percentile_cont(0.99) within group (order by extract(epoch from routed_at - created_at) * 1000) as p99,
              max(extract(epoch from routed_at - created_at) * 1000)::float8 as max
         from cases c where c.reported_email like $1`,
      [like]
    )
    const r = rows[0]
    const cases = r?.cases ?? 0
    const unrouted = r?.unrouted ?? 0
    const undelivered = r?.undelivered ?? 0
    const cpuMs = cpu.msBetween(a, c)
    const num = (v: number | null | undefined) => (v == null ? null : round1(Number(v)))
    const fig: SustainedFigures = {
      ...load,
      sharePct: share,
      rate,
      ofRate: opts.intakeRps,
      connections,
      cases,
      routed: r?.routed ?? 0,
      triaged: r?.triaged ?? 0,
      unrouted,
      undelivered,
      routedP50Ms: num(r?.p50),
      routedP99Ms: num(r?.p99),
      routedMaxMs: num(r?.max),
      settledMs,
      machinePctSending: pctOf(cpu.msBetween(a, b)).machine ?? 0,
      cpuMs,
      cpuMsPerCase: perCase(cpuMs, cases - unrouted - undelivered)
    }
    ctx.log(
      `   intake ${fmt(load.rps)}/s, p50 ${load.p50} ms, p99 ${load.p99} ms; intake → routed p50 ${fmt(fig.routedP50Ms)} ms, p99 ${fmt(fig.routedP99Ms)} ms; ` +
        `${fig.routed}/${cases} routed, ${unrouted} still 'received', ${undelivered} undelivered${settled ? '' : ` after ${opts.routedWaitMs / 1000} s`}`
    )
    out.push(fig)
  }
  return out
}

/** The report's lines for the drains and the sustained phases, after the main table. */
export function routingLines(drains: DrainFigures[], sustained: SustainedFigures[], intakeRps: number): string[] {
  const lines: string[] = []
  const cpuText = (c: CpuPerCase | null) =>
    c ? `${fmt(c.machine, 2)} ms machine (app ${fmt(c.app, 2)}, postgres ${fmt(c.postgres, 2)}, redis ${fmt(c.redis, 2)}; app+postgres+redis ${fmt(c.services, 2)} ms)` : 'n/a (no case done)'
  for (const d of sustained) {
    lines.push(
      `d${d.sharePct}. ${d.sharePct} % of intake (${d.rate}/s of ${fmt(d.ofRate)}/s): intake p50 ${fmt(d.p50, 1)} ms, p99 ${fmt(d.p99, 1)} ms; ` +
        `intake → routed p50 ${fmt(d.routedP50Ms)} ms, p99 ${fmt(d.routedP99Ms)} ms, max ${fmt(d.routedMaxMs)} ms; ` +
        `${d.routed}/${d.cases} routed, ${d.unrouted} unrouted, ${d.undelivered} undelivered, ${d.triaged} triaged`
    )
    lines.push(
      `     machine CPU ${fmt(d.machinePctSending, 0)} % of one core while sending; per case, intake to delivered: ${cpuText(d.cpuMsPerCase)}` +
        `; last delivered ${d.settledMs === null ? 'not within the wait' : `${fmt(d.settledMs / 1000, 2)} s after the last request`}`
    )
  }
  for (const d of drains) {
    const ratio = d.perS !== null && intakeRps > 0 ? `${fmt(d.perS / intakeRps, 2)} ×` : 'n/a'
    lines.push(
      `drain after b${d.round}: ${d.done} of ${d.backlog} cases routed and delivered in ${fmt(d.ms / 1000, 2)} s${d.drained ? '' : ` (NOT drained: ${d.left} left at the timeout)`}, ` +
        `${fmt(d.perS, 0)} cases/s = ${ratio} the web intake rate; CPU per case ${cpuText(d.cpuMsPerCase)}`
    )
    // a small backlog is itself the finding: routing kept pace while the round ran
    lines.push(`     the round stored ${fmt(d.roundContacts, 0)} contacts in its measured seconds (and more in its warm-up); all but the ${d.backlog} above were routed and delivered while it ran`)
  }
  const t = drainTotals(drains)
  lines.push(
    `drain, both rounds: ${fmt(t.perS, 0)} cases/s routed and delivered = ${t.perS !== null && intakeRps > 0 ? fmt(t.perS / intakeRps, 2) : 'n/a'} × the web intake rate (${fmt(intakeRps)}/s, mean of b1 and b2; target ≥ ${ROUTING_TARGETS.drainRatio.toFixed(1)} ×)`
  )
  lines.push(
    `machine CPU per routed and delivered case while draining: ${fmt(t.cpuMsPerCase?.machine ?? null, 2)} ms all processes, ` +
      `${fmt(t.cpuMsPerCase?.services ?? null, 2)} ms app+postgres+redis; before issue 13 (today's figure): ${CPU_MS_PER_CASE_BEFORE.toFixed(1)} ms; target ≤ ${fmt(ROUTING_TARGETS.cpuMsPerCase, 2)} ms (a third)`
  )
  return lines
}

/** The targets table's rows for routing: [target, measured, pass]. */
export function routingChecks(drains: DrainFigures[], sustained: SustainedFigures[], intakeRps: number): [string, string, boolean][] {
  const half = sustained.find((d) => d.sharePct === 50)
  const t = drainTotals(drains)
  const ratio = t.perS !== null && intakeRps > 0 ? t.perS / intakeRps : null
  const cpuPerCase = t.cpuMsPerCase?.machine ?? null
  return [
    [
      `routed p99 < ${fmt(ROUTING_TARGETS.halfRateRoutedP99Ms / 1000)} s at 50 % of intake`,
      half ? `${fmt(half.routedP99Ms)} ms at ${half.rate}/s${half.unrouted ? ` (${half.unrouted} unrouted)` : ''}` : 'not run',
      !!half && half.routedP99Ms !== null && half.routedP99Ms < ROUTING_TARGETS.halfRateRoutedP99Ms && half.unrouted === 0 && half.cases > 0
    ],
    [
      `intake p99 < ${ROUTING_TARGETS.halfRateIntakeP99Ms} ms at 50 % of intake`,
      half ? `${fmt(half.p99, 1)} ms, ${half.non2xx + half.errors} failed` : 'not run',
      !!half && half.p99 < ROUTING_TARGETS.halfRateIntakeP99Ms && half.non2xx === 0 && half.errors === 0 && half.total > 0
    ],
    [
      `drain rate ≥ ${ROUTING_TARGETS.drainRatio.toFixed(1)} × web intake`,
      ratio === null ? 'n/a (no backlog)' : `${fmt(ratio, 2)} × (${fmt(t.perS, 0)}/s)${t.allDrained ? '' : ', not drained'}`,
      ratio !== null && ratio >= ROUTING_TARGETS.drainRatio
    ],
    [
      `machine CPU per routed case ≤ ⅓ of before (${CPU_MS_PER_CASE_BEFORE.toFixed(1)} ms)`,
      `${fmt(cpuPerCase, 2)} ms (before ${CPU_MS_PER_CASE_BEFORE.toFixed(1)} ms)`,
      cpuPerCase !== null && cpuPerCase <= ROUTING_TARGETS.cpuMsPerCase
    ]
  ]
}
