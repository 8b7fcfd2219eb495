import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { ConfigSchema } from '../../src/config.js'
import { projectRoot } from '../../src/lib/paths.js'

export interface Spawned {
  proc: ChildProcess
  /** stdout and stderr so far, for failure messages */
  output(): string
  stdout(): string
  stderr(): string
  /** resolves when the process has exited */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  alive(): boolean
}

/**
 * The environment a child process gets: the parent's (PATH, HOME ...) without any
 * Switchboard setting it may carry, plus `settings`, so the child's configuration is
 * exactly what the test gives it.
 */
export function childEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const key of Object.keys(ConfigSchema.properties)) delete env[key]
  return { ...env, ...settings }
}

/** Runs a TypeScript entry point of the project the way a user would: `node --import tsx <file> ...args`. */
export function spawnTs(file: string, args: string[], settings: Record<string, string>): Spawned {
  const proc = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: projectRoot,
    env: childEnv(settings),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  proc.stderr?.on('data', (c: Buffer) => (err += c.toString()))
  let done = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      done = true
      resolve({ code, signal })
    })
  })
  return {
    proc,
    output: () => `--- stdout ---\n${out}\n--- stderr ---\n${err}`,
    stdout: () => out,
    stderr: () => err,
    exited,
    alive: () => !done
  }
}

/** Waits for a process to exit, failing after `timeoutMs`. */
export async function exitOf(child: Spawned, timeoutMs = 20_000) {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`process did not exit within ${timeoutMs} ms\n${child.output()}`)), timeoutMs)
  })
  try {
    return await Promise.race([child.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Kills a child this test started, if it is still running. */
export async function killIfAlive(child: Spawned | undefined): Promise<void> {
  if (!child || !child.alive()) return
  child.proc.kill('SIGKILL')
  await child.exited
}

/**
 * Runs `npm run cli -- ...args` as an operator would (from source, through tsx) until it
 * exits: its exit code and what it printed. A run through tsx takes several seconds on a
 * busy 2-core machine.
 */
export async function runCli(args: string[], settings: Record<string, string>, timeoutMs = 45_000) {
  const child = spawnTs('src/cli/index.ts', args, settings)
  try {
    const { code } = await exitOf(child, timeoutMs)
    return { code, stdout: child.stdout(), stderr: child.stderr() }
  } finally {
    await killIfAlive(child)
  }
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** Starts the real entry point as an operator would: `node --import tsx src/main.ts <mode>`. */
export function spawnSwitchboard(settings: Record<string, string>, mode: 'all' | 'api' | 'workers' | 'smtp' = 'all'): Spawned {
  // the SMTP listener on a port of its own, so that files running at once never share 2525
  return spawnTs('src/main.ts', [mode], { SMTP_PORT: '0', ...settings })
}

/** Runs Switchboard until it exits by itself (a start that is expected to fail). */
export async function runSwitchboard(settings: Record<string, string>, timeoutMs = 20_000) {
  const child = spawnSwitchboard(settings)
  try {
    const { code, signal } = await exitOf(child, timeoutMs)
    return { code, signal, stdout: child.stdout(), stderr: child.stderr() }
  } finally {
    await killIfAlive(child)
  }
}

/**
 * Settings for a workers process (`src/main.ts workers`) of a test's own, on the test
 * context's database and queue prefix: quiet logs, a quick outbox sweeper, no retention
 * job; `extra` adds or overrides.
 */
export function workersSettings(config: { DATABASE_URL: string; QUEUE_PREFIX: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: config.DATABASE_URL,
    QUEUE_PREFIX: config.QUEUE_PREFIX,
    LOG_LEVEL: 'warn',
    OPERATOR_API_KEY: 'x'.repeat(32),
    OUTBOX_SWEEP_MS: '200',
    OUTBOX_LEASE_MS: '1000',
    RETENTION_EVERY_MINUTES: '0',
    ...extra
  }
}
