/**
 * Closed-loop SMTP load for the bench: `connections` workers, each sending one message per
 * SMTP session as a mail server does (connect, EHLO, MAIL FROM, RCPT TO, DATA, QUIT) and
 * starting the next session once the last one has closed, for `seconds`. The protocol is
 * nodemailer's SMTPConnection, not written by hand.
 *
 * What is timed is the final 250: from the message's last byte (the final dot, after MAIL,
 * RCPT, DATA and the message itself) until the server's answer to it. The app gives that
 * 250 only once the message is committed, so it is the wait a sending server sees.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js'
import type { BenchMail } from './bodies.js'

const ERROR_PAUSE_MS = 50

export interface SmtpFigures {
  /** messages answered 250 per second of the phase (first session opened to last one closed) */
  rps: number
  /** sessions run */
  total: number
  /** the final 250, ms: over the messages answered 250 */
  p50: number
  p99: number
  max: number
  /** whole sessions (connect to closed), p99 ms, for comparison */
  sessionP99: number
  accepted: number
  /** answered 4xx (at any step: greeting, envelope or message) */
  tempFailed: number
  /** answered 5xx */
  rejected: number
  /** no SMTP answer: refused, reset or closed connections, timeouts */
  errors: number
  timeouts: number
  /** SMTP answers by code; connection errors by their code (ECONNECTION, ETIMEDOUT, …) */
  replies: Record<string, number>
}

export interface SmtpLoadOptions {
  host: string
  port: number
  source: { next(): BenchMail }
  seconds: number
  connections: number
  /** no answer for this long and the session counts as a timeout (ms) */
  timeoutMs?: number
  /** aborted: no new sessions (the bench stopping) */
  signal?: AbortSignal
}

type Outcome = { kind: 'accepted'; ms: number; code: string } | { kind: 'answered'; code: string } | { kind: 'error'; code: string; timeout: boolean }

/** An error from SMTPConnection: an SMTP answer when the server gave one, else a connection error. */
function classify(err: Error & { responseCode?: number; code?: string; originalCode?: string }): Outcome {
  if (err.responseCode) return { kind: 'answered', code: String(err.responseCode) }
  // the system's code (ECONNREFUSED, ECONNRESET) says more than nodemailer's ESOCKET
  const code = err.originalCode ?? err.code ?? 'ERROR'
  return { kind: 'error', code, timeout: err.code === 'ETIMEDOUT' }
}

/** One session; resolves once the connection is closed, whatever happened. */
function session(opts: SmtpLoadOptions, mail: BenchMail): Promise<Outcome> {
  const timeout = opts.timeoutMs ?? 10_000
  return new Promise((resolve) => {
    // nodemailer tells its logger when the message's last byte (the final dot) is written:
    // the final 250 is timed from there, which is what the sending server waits on
    let dataEnd = 0
    const noop = () => {}
    const logger = {
      trace: noop,
      debug: noop,
      warn: noop,
      error: noop,
      fatal: noop,
      info: (entry?: { tnx?: string; outByteCount?: number }) => {
        if (entry?.tnx === 'message' && entry.outByteCount !== undefined) dataEnd = performance.now()
      }
    }
    const conn = new SMTPConnection({
      host: opts.host,
      port: opts.port,
      name: 'mx.bench.example', // the EHLO name a sending server gives
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      // STARTTLS when offered, without checking the certificate, as most mail servers do
      tls: { rejectUnauthorized: false },
      logger: logger as unknown as SMTPConnection.Options['logger']
    })
    // the first thing that happened decides: a late error while closing does not undo a 250
    let outcome: Outcome | undefined
    conn.on('error', (err) => (outcome ??= classify(err)))
    conn.once('end', () => resolve(outcome ?? { kind: 'error', code: 'ECONNECTION', timeout: false }))
    conn.connect((err) => {
      if (err) {
        outcome ??= classify(err)
        return conn.close()
      }
      const start = performance.now()
      conn.send({ from: mail.from, to: [mail.to] }, mail.raw, (sendErr, info) => {
        if (sendErr) outcome ??= classify(sendErr)
        else outcome ??= { kind: 'accepted', ms: performance.now() - (dataEnd || start), code: info.response.slice(0, 3) }
        // a refused message leaves the session open: end it politely as a server would
        if (conn.destroyed) return
        conn.quit()
      })
    })
  })
}

const percentile = (sorted: number[], q: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! * 100) / 100 : 0)

export async function smtpLoad(opts: SmtpLoadOptions): Promise<SmtpFigures> {
  const finalMs: number[] = []
  const sessionMs: number[] = []
  const replies: Record<string, number> = {}
  const f = { accepted: 0, tempFailed: 0, rejected: 0, errors: 0, timeouts: 0 }
  const count = (o: Outcome) => {
    replies[o.code] = (replies[o.code] ?? 0) + 1
    if (o.kind === 'accepted') {
      f.accepted++
      finalMs.push(o.ms)
    } else if (o.kind === 'answered') {
      if (o.code.startsWith('4')) f.tempFailed++
      else f.rejected++
    } else {
      f.errors++
      if (o.timeout) f.timeouts++
    }
  }
  const start = performance.now()
  const end = start + opts.seconds * 1000
  const worker = async () => {
    while (performance.now() < end && !opts.signal?.aborted) {
      const mail = opts.source.next()
      const began = performance.now()
      const outcome = await session(opts, mail)
      count(outcome)
      sessionMs.push(performance.now() - began)
      // as a mail server would, wait a little before trying a host that did not answer: a
      // listener that is down would otherwise turn the phase into a flood of refused connects
      if (outcome.kind === 'error') await sleep(ERROR_PAUSE_MS)
    }
  }
  await Promise.all(Array.from({ length: opts.connections }, worker))
  const elapsedS = (performance.now() - start) / 1000
  finalMs.sort((a, b) => a - b)
  sessionMs.sort((a, b) => a - b)
  return {
    rps: Math.round((f.accepted / elapsedS) * 10) / 10,
    total: sessionMs.length,
    p50: percentile(finalMs, 0.5),
    p99: percentile(finalMs, 0.99),
    max: percentile(finalMs, 1),
    sessionP99: percentile(sessionMs, 0.99),
    ...f,
    replies
  }
}
