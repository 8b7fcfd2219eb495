import { Worker } from 'node:worker_threads'
import type { IntakePressure, PressureSample } from '../src/lib/intake-pressure.js'
import { relayLocally } from '../src/jobs/outbox-relay.js'
import type { Queues } from '../src/jobs/queues.js'
import type { OutboxRow } from '../src/jobs/outbox-relay.js'
import type { Stoppable } from './index.js'

export type ToHost = { type: 'ready' } | { type: 'closed' }
export type FromHost = { type: 'pressure'; sample: PressureSample } | { type: 'route'; rows: OutboxRow[] } | { type: 'close' }

/** How often the API's intake figures are posted to the workers' thread (give-way's interval). */
const PRESSURE_EVERY_MS = 250

/**
 * Runs the workers of the all-in-one process (`npm start`) on a thread of their own, so that
 * a batch of routing or a burst of deliveries never holds the event loop that answers
 * residents: the API's intake latency no longer waits behind a batch being placed.
 * It is one process still, with one set of logs and one signal to stop it. The thread opens
 * its own Postgres pool and Redis connections (what `main.js workers` would), and the
 * process's environment is its configuration. New cases reach it as messages rather than
 * queue jobs (the outbox row stays the guarantee, as for a job: see relayLocally).
 *
 * `onFailure` is called if the thread dies on its own (an error it did not catch): the
 * process then holds an API that takes contacts nobody routes, so the caller should stop.
 */
export async function startWorkersThread(opts: { queues: Queues; pressure?: IntakePressure | undefined; onFailure: (err: Error) => void }): Promise<Stoppable> {
  const worker = import.meta.url.endsWith('.ts') ? underTsx(new URL('./thread.ts', import.meta.url)) : new Worker(new URL('./thread.js', import.meta.url))
  let closing = false
  let exited = false
  const exit = new Promise<number>((resolve) => worker.once('exit', (code) => { exited = true; resolve(code) }))

  await new Promise<void>((resolve, reject) => {
    const onMessage = (msg: ToHost) => {
      if (msg.type !== 'ready') return
      worker.off('message', onMessage)
      worker.off('error', reject)
      resolve()
    }
    worker.on('message', onMessage)
    worker.once('error', reject)
    void exit.then((code) => reject(new Error(`the workers' thread stopped while starting (exit code ${code})`)))
  })

  let failed = false
  const fail = (err: Error) => {
    if (closing || failed) return
    failed = true
    opts.onFailure(err)
  }
  worker.on('error', fail)
  void exit.then((code) => fail(new Error(`the workers' thread stopped (exit code ${code})`)))

  const pressure = opts.pressure
  const timer = pressure ? setInterval(() => worker.postMessage({ type: 'pressure', sample: pressure.sample() } satisfies FromHost), PRESSURE_EVERY_MS) : null
  timer?.unref()
  // New cases go to the workers' thread as messages, not as case:route jobs through Redis:
  // a few round trips less per case, on both threads (and, giving way, held there during a burst).
  const backToRedis = relayLocally(opts.queues, 'case:route', (rows) => worker.postMessage({ type: 'route', rows } satisfies FromHost))

  return {
    async close() {
      closing = true
      backToRedis()
      if (timer) clearInterval(timer)
      if (exited) return
      const closed = new Promise<void>((resolve) => {
        worker.on('message', (msg: ToHost) => { if (msg.type === 'closed') resolve() })
      })
      worker.postMessage({ type: 'close' } satisfies FromHost)
      // the thread finishes the jobs it holds; the process's shutdown timeout bounds the wait
      await Promise.race([closed, exit])
      await worker.terminate().catch(() => 0)
    }
  }
}

/**
 * Run from source (`node --import tsx`, as the tests start the app), a thread does not get
 * the TypeScript loader from the process's flags on Node 20: it registers it first, then
 * loads the entry.
 */
function underTsx(entry: URL): Worker {
  const api = import.meta.resolve('tsx/esm/api')
  const code = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(code, { eval: true })
}
