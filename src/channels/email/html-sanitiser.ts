import { Worker } from 'node:worker_threads'
import { AppError } from '../../errors.js'
import type { SafeHtml } from './html-limits.js'

interface Task {
  id: number
  html: string
  resolve: (out: SafeHtml) => void
}
interface Running {
  task: Task
  timer: NodeJS.Timeout
}

// a thread that has not started within this (loading sanitize-html takes a fraction of it) is broken
const STARTUP_MS = 15_000

/**
 * Sanitises mail HTML on a thread of its own, one mail at a time, each within `deadlineMs`:
 * past it the thread is stopped (a new one starts for the next mail) and the answer is
 * 'timed_out'. However hostile the HTML, the API's event loop only waits for a message.
 * A few lines by hand rather than a pool library: one thread, one task at a time, and
 * terminating the thread is the whole of the deadline.
 */
export class HtmlSanitiser {
  private worker: Worker | null = null
  private ready: Promise<void> | null = null
  private readonly waiting: Task[] = []
  private current: Running | null = null
  private nextId = 1

  constructor(private readonly opts: { deadlineMs: number; maxWaiting: number }) {}

  sanitise(html: string): Promise<SafeHtml> {
    if (this.waiting.length >= this.opts.maxWaiting) {
      return Promise.reject(new AppError('temporarily_unavailable', { message: 'Too many messages are being prepared for display; retry shortly' }))
    }
    return new Promise((resolve) => {
      this.waiting.push({ id: this.nextId++, html, resolve })
      this.pump()
    })
  }

  /** Stops the thread; mails still waiting are answered 'failed' (shown as text this once, not kept so). */
  async close(): Promise<void> {
    const worker = this.worker
    this.worker = null
    this.ready = null
    for (const task of this.waiting.splice(0)) task.resolve({ state: 'failed' })
    if (this.current) this.finish(this.current.task.id, { state: 'failed' }, false)
    await worker?.terminate()
  }

  private pump(): void {
    if (this.current || !this.waiting.length) return
    const task = this.waiting.shift()!
    const fail = () => this.finish(task.id, { state: 'failed' }, true)
    const current: Running = { task, timer: setTimeout(fail, STARTUP_MS) }
    this.current = current
    this.start().then(() => {
      if (this.current !== current) return
      // the deadline counts from here: a thread's start (loading sanitize-html) is not the mail's fault
      clearTimeout(current.timer)
      current.timer = setTimeout(() => this.finish(task.id, { state: 'timed_out' }, true), this.opts.deadlineMs)
      this.worker!.postMessage({ id: task.id, html: task.html })
    }, fail)
  }

  private finish(id: number, out: SafeHtml, stopThread: boolean): void {
    if (this.current?.task.id !== id) return
    clearTimeout(this.current.timer)
    const { task } = this.current
    this.current = null
    if (stopThread) this.stop()
    task.resolve(out)
    this.pump()
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready
    const worker = import.meta.url.endsWith('.ts') ? underTsx(new URL('./html-worker.ts', import.meta.url)) : new Worker(new URL('./html-worker.js', import.meta.url))
    worker.unref()
    this.worker = worker
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: { ready: true } | ({ id: number } & SafeHtml)) => {
        if ('ready' in msg) return resolve()
        const { id, ...out } = msg
        this.finish(id, out as SafeHtml, false)
      })
      const gone = (err: unknown) => {
        if (this.worker !== worker) return
        reject(err)
        if (this.current) this.finish(this.current.task.id, { state: 'failed' }, true)
        else this.stop()
      }
      worker.on('error', gone)
      worker.on('exit', (code) => gone(new Error(`the HTML thread stopped (exit code ${code})`)))
    })
    return this.ready
  }

  /** Forgets the thread (terminating it): the next mail starts a new one. */
  private stop(): void {
    const worker = this.worker
    this.worker = null
    this.ready = null
    if (worker) void worker.terminate().catch(() => 0)
  }
}

/**
 * Run from source (the tests), a thread does not get the TypeScript loader on Node 20: it
 * registers tsx first, then loads the entry (as workers/thread-host.ts does).
 */
function underTsx(entry: URL): Worker {
  const api = import.meta.resolve('tsx/esm/api')
  const code = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(code, { eval: true })
}
