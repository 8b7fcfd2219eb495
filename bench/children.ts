/**
 * The bench's child processes (the app, the baseline server, an earlier build of the app):
 * started with a clean environment, their last output kept for a failure's report, waited
 * for until they answer, and stopped with SIGTERM, then SIGKILL if they hang.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const READY_TIMEOUT_MS = 60_000
const CHILD_EXIT_TIMEOUT_MS = 20_000

/** The project root: dist/bench → project root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface Child {
  name: string
  proc: ChildProcess
  tail: string[]
  lines: number
  exited: Promise<number | null>
  exitCode: number | null | undefined
}

export function startChild(name: string, script: string, args: string[], env: Record<string, string>, nodeArgs: string[] = [], cwd: string = root): Child {
  const proc = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd,
    // a clean environment: nothing from the caller's shell (a REDIS_URL, a pool size) leaks in
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const child: Child = { name, proc, tail: [], lines: 0, exited: Promise.resolve(null), exitCode: undefined }
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue
      child.lines++
      child.tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line)
      if (child.tail.length > 20) child.tail.shift()
    }
  }
  proc.stdout?.on('data', collect)
  proc.stderr?.on('data', collect)
  child.exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      child.exitCode = code ?? (signal ? -1 : null)
      resolve(child.exitCode)
    })
    proc.once('error', () => {
      child.exitCode = -1
      resolve(-1)
    })
  })
  return child
}

export async function waitReady(child: Child, url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== undefined) throw new StartError(child, `exited with code ${child.exitCode} before it was ready`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      await res.arrayBuffer()
      if (res.status === 200) return
    } catch {
      // not listening yet
    }
    await sleep(200)
  }
  throw new StartError(child, `did not answer 200 on ${url} within ${READY_TIMEOUT_MS / 1000} s`)
}

export class StartError extends Error {
  constructor(readonly child: Child, message: string) {
    super(`${child.name} ${message}`)
  }
}

export async function stopChild(child: Child | undefined): Promise<void> {
  if (!child || child.exitCode !== undefined) return
  child.proc.kill('SIGTERM')
  const timedOut = await Promise.race([child.exited.then(() => false), sleep(CHILD_EXIT_TIMEOUT_MS).then(() => true)])
  if (timedOut && child.exitCode === undefined) {
    console.error(`${child.name} did not exit ${CHILD_EXIT_TIMEOUT_MS / 1000} s after SIGTERM; sending SIGKILL`)
    child.proc.kill('SIGKILL')
    await child.exited
  }
}
