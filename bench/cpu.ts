/**
 * Where the CPU went during a phase (Linux /proc only; empty figures elsewhere): the app,
 * the baseline server, this process (autocannon runs in it), all postgres processes, redis,
 * and the machine as a whole. Figures are percent of ONE core, so on 2 cores the machine
 * total tops out at 200%.
 */
import { readdirSync, readFileSync } from 'node:fs'

const TICKS_PER_SECOND = 100 // USER_HZ: 100 on every mainstream Linux build

export interface CpuSnapshot {
  at: number
  self: number // ms of CPU
  pids: Map<number, number> // pid → ms of CPU
  machineBusy: number // ms, all cores
  machineTotal: number // ms, all cores
  /** postgres and redis-server pids at this snapshot, by command name */
  services: Map<number, string>
}

export type CpuGroups = Record<string, number[] | 'postgres' | 'redis'>

function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the command name, which is in parentheses and may contain spaces
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(rest[11])
    const stime = Number(rest[12])
    return ((utime + stime) * 1000) / TICKS_PER_SECOND
  } catch {
    return null
  }
}

function pidsByComm(names: string[]): Map<number, string> {
  const out = new Map<number, string>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return out
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue
    try {
      const comm = readFileSync(`/proc/${e}/comm`, 'utf8').trim()
      if (names.includes(comm)) out.set(Number(e), comm)
    } catch {
      // gone meanwhile
    }
  }
  return out
}

function machine(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
    const v = line.trim().split(/\s+/).slice(1).map(Number)
    const total = v.reduce((a, b) => a + b, 0)
    const idle = (v[3] ?? 0) + (v[4] ?? 0) // idle + iowait
    return { busy: ((total - idle) * 1000) / TICKS_PER_SECOND, total: (total * 1000) / TICKS_PER_SECOND }
  } catch {
    return { busy: 0, total: 0 }
  }
}

export class CpuMeter {
  constructor(private readonly named: Record<string, number | undefined>) {}

  snapshot(): CpuSnapshot {
    const pids = new Map<number, number>()
    const services = pidsByComm(['postgres', 'redis-server'])
    for (const pid of [...Object.values(this.named), ...services.keys()]) {
      if (pid === undefined) continue
      const ms = procCpuMs(pid)
      if (ms !== null) pids.set(pid, ms)
    }
    const u = process.cpuUsage()
    const m = machine()
    return { at: performance.now(), self: (u.user + u.system) / 1000, pids, machineBusy: m.busy, machineTotal: m.total, services }
  }

  /**
   * Milliseconds of CPU used by each part between two snapshots (for CPU per case), the
   * machine's busy time over all cores, and `wall`, the elapsed ms. "other" is the machine's
   * busy time that no tracked part accounts for (other processes, kernel work).
   */
  msBetween(a: CpuSnapshot, b: CpuSnapshot): Record<string, number> {
    const delta = (pid: number) => (b.pids.get(pid) ?? 0) - (a.pids.get(pid) ?? 0) // a process born in between counts from 0
    const out: Record<string, number> = {}
    for (const [name, pid] of Object.entries(this.named)) if (pid !== undefined) out[name] = delta(pid)
    out.bench = b.self - a.self
    out.postgres = 0
    out.redis = 0
    for (const pid of b.pids.keys()) {
      const comm = b.services.get(pid)
      if (comm === 'postgres') out.postgres += delta(pid)
      else if (comm === 'redis-server') out.redis += delta(pid)
    }
    out.machine = b.machineBusy - a.machineBusy
    const tracked = Object.entries(out).reduce((sum, [k, v]) => (k === 'machine' ? sum : sum + v), 0)
    out.other = Math.max(0, out.machine - tracked)
    out.wall = b.at - a.at
    return out
  }

  /** Percent of one core used by each part between two snapshots. */
  between(a: CpuSnapshot, b: CpuSnapshot): Record<string, number> {
    const wall = b.at - a.at
    if (wall <= 0) return {}
    const pct = (ms: number) => Math.round((ms / wall) * 1000) / 10
    const delta = (pid: number) => (b.pids.get(pid) ?? 0) - (a.pids.get(pid) ?? 0) // a process born in between counts from 0
    const out: Record<string, number> = {}
    for (const [name, pid] of Object.entries(this.named)) if (pid !== undefined) out[name] = pct(delta(pid))
    out.bench = pct(b.self - a.self)
    let pgMs = 0
    let redisMs = 0
    for (const pid of b.pids.keys()) {
      const comm = b.services.get(pid)
      if (comm === 'postgres') pgMs += delta(pid)
      else if (comm === 'redis-server') redisMs += delta(pid)
    }
    out.postgres = pct(pgMs)
    out.redis = pct(redisMs)
    const machineWall = b.machineTotal - a.machineTotal
    // machine busy as percent of one core, comparable with the rest
    out.machine = machineWall > 0 ? Math.round(((b.machineBusy - a.machineBusy) / machineWall) * 1000 * cores()) / 10 : 0
    // everything else on the machine (other processes, kernel work not charged to a process)
    const tracked = Object.entries(out).reduce((sum, [k, v]) => (k === 'machine' ? sum : sum + v), 0)
    out.other = Math.max(0, Math.round((out.machine - tracked) * 10) / 10)
    return out
  }
}

/** Percent of one core the whole machine is busy over `ms` (for the is-it-idle check). */
export async function machineBusyPct(ms: number): Promise<number> {
  const a = machine()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const b = machine()
  const total = b.total - a.total
  return total > 0 ? Math.round(((b.busy - a.busy) / total) * 1000 * cores()) / 10 : 0
}

export function cores(): number {
  try {
    return readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l)).length || 1
  } catch {
    return 1
  }
}
