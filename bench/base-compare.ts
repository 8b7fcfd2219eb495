/**
 * k. What a change costs intake, old and new side by side in one run: the same web-intake
 * phase against an earlier build of the app (BENCH_BASE_REF, built from git into a temporary
 * folder) and against this one, interleaved (ABBA BAAB, below) so that the machine's drift
 * (20 % and more within a minute here) falls on both sides. Each app has a database of its
 * own, fresh at the start, and runs as the bench runs this one (same mode, same settings).
 *
 * The default base is the last commit before issue 20's hardening (the security review's
 * checks: surrogates, idempotency per sender, mail authentication, agents' revocation …),
 * so the phase answers "do the new checks cost under 3 % of intake?". Set BENCH_BASE_REF to
 * another commit to weigh another change, or to `none` to skip the phase.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { bodySource } from './bodies.js'
import { root, startChild, stopChild, waitReady, type Child } from './children.js'
import { CpuMeter } from './cpu.js'
import { load, round1 } from './load.js'
import type { LoadFigures } from './sustained.js'

/** The last commit before issue 20 (security hardening). */
export const DEFAULT_BASE_REF = '63ab337'

export interface BaseBuild {
  ref: string
  sha: string
  main: string
  dir: string
}

export interface CostRound {
  side: 'old' | 'new'
  figures: LoadFigures
  /** ms of the app's CPU per contact taken in */
  appCpuMsPerContact: number
  /** ms of Postgres's CPU per contact taken in */
  pgCpuMsPerContact: number
}

export interface CostFigures {
  base: string
  rounds: CostRound[]
  oldRps: number
  newRps: number
  /** new ÷ old requests/s over all rounds, % */
  ratioPct: number
  /** the app's CPU per contact, ms */
  oldCpuMs: number
  newCpuMs: number
  /** Postgres's CPU per contact, ms */
  oldPgMs: number
  newPgMs: number
}

// Each side four times, in an order that puts both at the same mean position (ABBA BAAB),
// so a machine that speeds up or slows down steadily over the phase favours neither.
const ORDER = ['old', 'new', 'new', 'old', 'new', 'old', 'old', 'new'] as const
// a side's first round is warmed up as the bench warms every target; after that its JIT,
// pools and caches are warm, and a short spell wakes its connections
const REWARM_S = 2

const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()

/**
 * The base commit's source, built with this checkout's TypeScript and node_modules, in a
 * folder of the temporary directory named by the commit (kept between runs: a commit does
 * not change). Null, with the reason logged, when git or the commit is not there.
 */
export async function buildBase(ref: string, log: (msg: string) => void): Promise<BaseBuild | null> {
  let sha: string
  try {
    sha = git('rev-parse', '--verify', '--quiet', `${ref}^{commit}`)
  } catch {
    log(`k. skipped: ${ref} is not a commit of this checkout (set BENCH_BASE_REF, or none)`)
    return null
  }
  const dir = join(os.tmpdir(), `switchboard-bench-base-${sha.slice(0, 12)}`)
  const main = join(dir, 'dist', 'src', 'main.js')
  const done = join(dir, '.built')
  if (existsSync(done) && existsSync(main)) return { ref, sha, main, dir }
  log(`k. building ${ref} (${sha.slice(0, 12)}) in ${dir}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  await new Promise<void>((resolve, reject) => {
    const archive = spawn('git', ['-C', root, 'archive', sha], { stdio: ['ignore', 'pipe', 'inherit'] })
    const untar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'inherit', 'inherit'] })
    archive.stdout.pipe(untar.stdin)
    untar.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`extracting ${sha} failed (tar exit ${code})`))))
    archive.on('error', reject)
  })
  // the base's own dependencies are this checkout's, or a subset of them
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.build.json')], { stdio: 'inherit' })
  writeFileSync(done, `${sha}\n`)
  return { ref, sha, main, dir }
}

export interface CostContext {
  build: BaseBuild
  /** the environment the bench gives its app; the base gets the same but for where it lives */
  appEnv: Record<string, string>
  app: Child
  /** the mode both builds run in (`all`, or `api`: intake with no workers) */
  mode: string
  newUrl: string
  /** routed and delivered: waits until the new app's backlog is gone */
  settleNew(): Promise<unknown>
  host: string
  port: number
  smtpPort: number
  adminQuery(sql: string): Promise<void>
  deleteKeys(pattern: string): Promise<number>
  warmupS: number
  durationS: number
  connections: number
  log(msg: string): void
}

/** Runs k: old, new, new, old. The base app is started first and stopped, its database dropped, before this returns. */
export async function intakeCost(ctx: CostContext): Promise<CostFigures> {
  const dbName = 'switchboard_bench_base'
  const prefix = 'sbbenchbase'
  const databaseUrl = `postgres://postgres@${ctx.host}:5432/${dbName}`
  await ctx.adminQuery(`drop database if exists ${dbName} with (force)`)
  await ctx.deleteKeys(`${prefix}:*`)
  const old = startChild(
    'base app',
    ctx.build.main,
    [ctx.mode],
    { ...ctx.appEnv, DATABASE_URL: databaseUrl, QUEUE_PREFIX: prefix, PORT: String(ctx.port), SMTP_PORT: String(ctx.smtpPort), PUBLIC_BASE_URL: `http://${ctx.host}:${ctx.port}` },
    [],
    ctx.build.dir
  )
  const db = new pg.Pool({ connectionString: databaseUrl, max: 1 })
  db.on('error', () => {})
  try {
    await waitReady(old, `http://${ctx.host}:${ctx.port}/ready`)
    const settleOld = () => settled(db)
    const cpu = new CpuMeter({ old: old.proc.pid, new: ctx.app.proc.pid })
    const oldUrl = `http://${ctx.host}:${ctx.port}/v1/contacts`
    const rounds: CostRound[] = []
    const warmed = new Set<string>()
    let n = 0
    for (const side of ORDER) {
      n++
      const url = side === 'old' ? oldUrl : ctx.newUrl
      const warmS = warmed.has(side) ? REWARM_S : ctx.warmupS
      warmed.add(side)
      ctx.log(`k${n}. intake cost, ${side === 'old' ? `base ${ctx.build.ref}` : 'this build'}: warm-up ${warmS} s, then ${ctx.durationS} s at ${ctx.connections} connections`)
      await load({ title: `k warm-up ${side}`, url, body: bodySource(`kwarm${n}`, 'kwarm.example.com'), seconds: warmS, connections: ctx.connections })
      const a = cpu.snapshot()
      const figures = await load({ title: `k ${side}`, url, body: bodySource(`k${n}`, `k${n}.example.com`), seconds: ctx.durationS, connections: ctx.connections })
      const ms = cpu.msBetween(a, cpu.snapshot())
      const per = (cpuMs: number) => (figures.total > 0 ? Math.round((cpuMs / figures.total) * 1000) / 1000 : 0)
      const round: CostRound = { side, figures, appCpuMsPerContact: per(ms[side] ?? 0), pgCpuMsPerContact: per(ms.postgres ?? 0) }
      rounds.push(round)
      ctx.log(`   ${figures.rps} req/s, p99 ${figures.p99} ms, non-2xx ${figures.non2xx}; CPU per contact: app ${round.appCpuMsPerContact} ms, Postgres ${round.pgCpuMsPerContact} ms`)
      await (side === 'old' ? settleOld() : ctx.settleNew())
    }
    const of = (side: 'old' | 'new') => rounds.filter((r) => r.side === side)
    const rps = (side: 'old' | 'new') => of(side).reduce((s, r) => s + r.figures.rps, 0) / Math.max(1, of(side).length)
    // CPU over all of a side's contacts: each round weighted by the contacts it took in
    const cpuMs = (side: 'old' | 'new', of_: (r: CostRound) => number) => {
      const rs = of(side)
      const contacts = rs.reduce((s, r) => s + r.figures.total, 0)
      return contacts ? Math.round((rs.reduce((s, r) => s + of_(r) * r.figures.total, 0) / contacts) * 1000) / 1000 : 0
    }
    const app = (r: CostRound) => r.appCpuMsPerContact
    const postgres = (r: CostRound) => r.pgCpuMsPerContact
    const oldRps = round1(rps('old'))
    const newRps = round1(rps('new'))
    return { base: `${ctx.build.ref} (${ctx.build.sha.slice(0, 12)})`, rounds, oldRps, newRps, ratioPct: oldRps > 0 ? round1((newRps / oldRps) * 100) : 0,
      oldCpuMs: cpuMs('old', app), newCpuMs: cpuMs('new', app), oldPgMs: cpuMs('old', postgres), newPgMs: cpuMs('new', postgres) }
  } finally {
    await db.end().catch(() => {})
    await stopChild(old)
    await ctx.deleteKeys(`${prefix}:*`).catch(() => 0)
    await ctx.adminQuery(`drop database if exists ${dbName} with (force)`).catch(() => {})
  }
}

/** Waits (up to 30 s) until the base app has routed everything it took in. */
async function settled(db: pg.Pool): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const { rows } = await db.query<{ v: number }>(`select ((select count(*) from cases where status = 'received') + (select count(*) from outbox where done_at is null))::int as v`)
    if (rows[0]?.v === 0) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/** The report's lines for k, and its check. */
export function costLines(c: CostFigures | null, maxCostPct: number): { lines: string[]; check: [string, string, boolean] | null } {
  if (!c) return { lines: ['k. intake cost against a base build: skipped (BENCH_BASE_REF)'], check: null }
  const rounds = c.rounds.map((r, i) => `k${i + 1} ${r.side} ${r.figures.rps}/s`).join(', ')
  const pct = (a: number, b: number) => (b > 0 ? round1((a / b) * 100) : 0)
  return {
    lines: [
      `k. web intake of this build against base ${c.base}, interleaved: ${c.newRps}/s against ${c.oldRps}/s = ${c.ratioPct} %`,
      `   (${rounds})`,
      `   CPU per contact: app ${c.newCpuMs} ms against ${c.oldCpuMs} ms (${pct(c.newCpuMs, c.oldCpuMs)} %), Postgres ${c.newPgMs} ms against ${c.oldPgMs} ms (${pct(c.newPgMs, c.oldPgMs)} %)`
    ],
    check: [`intake costs < ${maxCostPct} % more than base ${c.base.split(' ')[0]}`, `${c.ratioPct} % of its rate`, c.ratioPct >= 100 - maxCostPct && c.rounds.every((r) => r.figures.non2xx === 0)]
  }
}
