/**
 * Load generators for the bench, all on 127.0.0.1: closed-loop at full speed (autocannon)
 * and open-loop at a steady rate (paced).
 */
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import type { LoadFigures } from './sustained.js'

export const round1 = (n: number) => Math.round(n * 10) / 10

let running: autocannon.Instance | null = null

/** Stops the autocannon run in progress, if any (on cleanup). */
export function stopLoad(): void {
  running?.stop()
}

/** JSON bodies, or whole requests (body and headers, e.g. signed Twilio forms) */
export type RequestSource = { next(): string } | { next(): { body: string; headers: Record<string, string> } }

export async function load(opts: {
  title: string
  url: string
  body: RequestSource
  seconds: number
  connections: number
}): Promise<LoadFigures> {
  let finished!: (r: { err: unknown; result: autocannon.Result }) => void
  const done = new Promise<{ err: unknown; result: autocannon.Result }>((resolve) => (finished = resolve))
  const instance = autocannon({
    title: opts.title,
    url: opts.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: opts.connections,
    duration: opts.seconds,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          const next = opts.body.next()
          return typeof next === 'string' ? { ...req, body: next } : { ...req, body: next.body, headers: { ...req.headers, ...next.headers } }
        }
      }
    ]
  }, (err, result) => finished({ err, result }))
  running = instance
  const statuses: Record<string, number> = {}
  instance.on('response', (_client, statusCode) => {
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1
  })
  try {
    const { err, result: r } = await done
    if (err) throw err
    return {
      rps: round1(r.requests.mean),
      total: r.requests.total,
      p50: r.latency.p50,
      p99: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      status: statuses
    }
  } finally {
    running = null
  }
}

/**
 * Open-loop load at a steady rate: request i is due at start + i / rate, whatever happened
 * to the ones before, and its latency counts from when it was due (so a sender held up by
 * a slow server does not hide the wait: no coordinated omission). Written by hand because
 * autocannon's overallRate hands out each second's budget as fast as it can at the start
 * of the second, which turns "500/s" into bursts of several hundred requests.
 */
export async function paced(opts: { url: string; body: { next(): string }; rate: number; seconds: number; connections: number }): Promise<LoadFigures> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections, maxFreeSockets: opts.connections })
  const url = new URL(opts.url)
  // Open the connections first (GET /health on each): otherwise the first second opens them
  // all at once, and a SYN flood of our own making (dropped by the listen backlog, retried
  // by TCP after 1 s, 3 s, 7 s) is what gets measured rather than the server.
  await Promise.all(
    Array.from({ length: opts.connections }, () =>
      new Promise<void>((resolve) => {
        const req = http.request({ agent, host: url.hostname, port: url.port, path: '/health', method: 'GET' }, (res) => {
          res.resume()
          res.on('end', () => resolve())
        })
        req.on('error', () => resolve())
        req.end()
      })
    )
  )
  const total = Math.round(opts.rate * opts.seconds)
  const latencies: number[] = []
  const status: Record<string, number> = {}
  let errors = 0
  let timeouts = 0
  const post = (body: string, due: number) =>
    new Promise<void>((resolve) => {
      const req = http.request(
        { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 10_000 },
        (res) => {
          res.resume()
          res.on('end', () => {
            latencies.push(performance.now() - due)
            status[res.statusCode ?? 0] = (status[res.statusCode ?? 0] ?? 0) + 1
            resolve()
          })
        }
      )
      req.on('timeout', () => {
        timeouts++
        req.destroy(new Error('timeout'))
      })
      req.on('error', () => {
        errors++
        resolve()
      })
      req.end(body)
    })
  const start = performance.now()
  const sent: Promise<void>[] = []
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / opts.rate
    const wait = due - performance.now()
    if (wait >= 1) await sleep(wait)
    sent.push(post(opts.body.next(), due))
  }
  await Promise.all(sent)
  const elapsedS = (performance.now() - start) / 1000
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const pct = (q: number) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!) : 0)
  const ok = Object.entries(status).reduce((n, [code, count]) => (Number(code) >= 200 && Number(code) < 300 ? n + count : n), 0)
  const max = latencies.length ? Math.round(latencies[latencies.length - 1]!) : 0
  return { rps: round1(latencies.length / elapsedS), total: latencies.length, p50: pct(0.5), p99: pct(0.99), max, non2xx: latencies.length - ok, errors, timeouts, status }
}
