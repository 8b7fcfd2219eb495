import { spawn, type ChildProcess } from 'node:child_process'
import { ConfigSchema } from '../../src/config.js'
import { projectRoot } from '../../src/lib/paths.js'

/**
 * The environment for a spawned Switchboard: this process's environment without any
 * Switchboard setting (so only what the test gives counts), plus `env`.
 */
export function switchboardEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env }
  for (const key of Object.keys(ConfigSchema.properties)) delete base[key]
  delete base.NODE_OPTIONS
  return { ...base, ...env }
}

export interface Spawned {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** resolves when the process has exited; rejects (after killing it) if that takes longer than `timeoutMs` */
  exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts the real entry point as an operator would: `node --import tsx src/main.ts <mode>`. */
export function spawnSwitchboard(env: Record<string, string>, mode = 'all'): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', mode], {
    cwd: projectRoot,
    env: switchboardEnv(env),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')))
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')))
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }))
  })
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited(timeoutMs) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL')
          reject(new Error(`switchboard did not exit within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`))
        }, timeoutMs)
      })
      return Promise.race([exit, timeout]).finally(() => clearTimeout(timer))
    }
  }
}

/** Runs Switchboard to completion (it is expected to exit by itself). */
export async function runSwitchboard(env: Record<string, string>, timeoutMs = 20_000) {
  const p = spawnSwitchboard(env)
  const { code, signal } = await p.exited(timeoutMs)
  return { code, signal, stdout: p.stdout(), stderr: p.stderr() }
}
