/**
 * `npm run bench:html` (and phase h of `npm run bench`): one hostile mail must not hold the
 * event loop (issue 20, point 1). A mail whose HTML is a <div> nested 200,000 deep (2.2 MB)
 * is sent to the running app's own SMTP listener; then its HTML view
 * (GET /v1/admin/messages/{id}/html) is timed while /health is asked again and again, one
 * request after another, during the intake and during the view. Targets: the view answers
 * in < 1 s, and /health in < 100 ms at worst while it runs. Shown besides, without a target:
 * /health during the mail's intake (parsing and storing 2.2 MB costs the event loop tens of
 * milliseconds; sanitising is not done there) and a second view (a read of what the first
 * stored). Knob: BENCH_APP_NODE_ARGS (node flags for the app, e.g. --cpu-prof).
 *
 * Standalone it starts the app itself (`node dist/src/main.js all`) on a throw-away
 * database (switchboard_bench_html) and Redis prefix (sbbenchhtml), on ports 3320 (HTTP) and
 * 3322 (SMTP), prints the figures with the targets and PASS/FAIL, and removes everything.
 * From bench/run.ts, `htmlView` runs against the app run.ts started.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import nodemailer from 'nodemailer'
import { PARTNERSHIP_MAILBOXES } from './bodies.js'
import { root, startChild, StartError, stopChild, waitReady, type Child } from './children.js'
import { adminQuery, deleteKeys, REDIS_URL } from './services.js'

export const HTML_VIEW_TARGETS = { viewMs: 1_000, healthMaxMs: 100 }
const DEPTH = 200_000

export interface HealthFigures {
  count: number
  p50: number
  max: number
}

export interface HtmlViewFigures {
  htmlBytes: number
  /** the 250 after DATA, from the start of the session */
  storeMs: number
  storeHealth: HealthFigures
  viewStatus: number
  viewMs: number
  viewHealth: HealthFigures
  /** what the view showed: the text part under a note, or HTML */
  shown: 'text' | 'html'
  secondViewMs: number
}

/** /health, one request after another, until `stop()`: how long each took. */
function probeHealth(base: string): { stop(): Promise<HealthFigures> } {
  const times: number[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      const t = performance.now()
      await fetch(`${base}/health`, { signal: AbortSignal.timeout(60_000) }).then((r) => r.arrayBuffer(), () => null)
      times.push(performance.now() - t)
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      times.sort((a, b) => a - b)
      const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.max(0, Math.ceil(q * times.length) - 1))] ?? 0)
      return { count: times.length, p50: at(0.5), max: at(1) }
    }
  }
}

/** The hostile mail: a short text part, and HTML nested DEPTH deep. */
function hostileMail(to: string): { from: string; raw: Buffer; htmlBytes: number } {
  const from = `html-bench.${Date.now()}@bench-html.example.com`
  const html = '<div>'.repeat(DEPTH) + 'x' + '</div>'.repeat(DEPTH)
  const raw = [
    `From: ${from}`,
    `To: ${to}`,
    'Subject: Pothole',
    `Message-ID: <html-bench-${Date.now()}@bench-html.example.com>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'A deep pothole outside 10 Downing Street, SW1A 2AA.',
    '--b',
    'Content-Type: text/html; charset=utf-8',
    '',
    html,
    '--b--',
    ''
  ].join('\r\n')
  return { from, raw: Buffer.from(raw), htmlBytes: html.length }
}

/** Phase h: against a running app (its HTTP base URL and SMTP port). */
export async function htmlView(opts: { base: string; host: string; smtpPort: number; operatorKey: string; log?: (msg: string) => void }): Promise<HtmlViewFigures> {
  const auth = { authorization: `Bearer ${opts.operatorKey}` }
  const mail = hostileMail(PARTNERSHIP_MAILBOXES[0])
  opts.log?.(`h. HTML view: a mail with <div> nested ${DEPTH.toLocaleString('en-GB')} deep (${(mail.htmlBytes / 1e6).toFixed(1)} MB) over SMTP, then its view; /health meanwhile`)

  const transport = nodemailer.createTransport({ host: opts.host, port: opts.smtpPort, ignoreTLS: true, socketTimeout: 120_000 })
  // the probe's own first request (a connection, the client's code warming) is not the app's wait
  for (let i = 0; i < 20; i++) await fetch(`${opts.base}/health`).then((r) => r.arrayBuffer())
  let probe = probeHealth(opts.base)
  let t = performance.now()
  const sent = await transport.sendMail({ envelope: { from: mail.from, to: [PARTNERSHIP_MAILBOXES[0]] }, raw: mail.raw }).finally(() => transport.close())
  const storeMs = Math.round(performance.now() - t)
  const storeHealth = await probe.stop()
  const reference = /SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec(sent.response)?.[0]
  if (!reference) throw new Error(`the mail was not taken in: ${sent.response}`)
  const listed = await fetch(`${opts.base}/v1/admin/cases/${reference}/messages`, { headers: auth })
  const message = ((await listed.json()) as { id: number; has_html: boolean }[]).find((m) => m.has_html)
  if (!message) throw new Error(`case ${reference} has no message with HTML`)

  probe = probeHealth(opts.base)
  t = performance.now()
  const view = await fetch(`${opts.base}/v1/admin/messages/${message.id}/html`, { headers: auth })
  const body = await view.text()
  const viewMs = Math.round(performance.now() - t)
  const viewHealth = await probe.stop()

  t = performance.now()
  await fetch(`${opts.base}/v1/admin/messages/${message.id}/html`, { headers: auth }).then((r) => r.arrayBuffer())
  const secondViewMs = Math.round(performance.now() - t)
  const f: HtmlViewFigures = {
    htmlBytes: mail.htmlBytes,
    storeMs,
    storeHealth,
    viewStatus: view.status,
    viewMs,
    viewHealth,
    shown: body.includes('formatting of this message is not shown') ? 'text' : 'html',
    secondViewMs
  }
  opts.log?.(`   stored in ${storeMs} ms (/health max ${storeHealth.max} ms); view ${view.status} in ${viewMs} ms (/health max ${viewHealth.max} ms over ${viewHealth.count}), shown as ${f.shown}; second view ${secondViewMs} ms`)
  return f
}

export function htmlViewLines(f: HtmlViewFigures): string[] {
  return [
    `h. HTML view of a mail with <div> nested ${DEPTH.toLocaleString('en-GB')} deep (${(f.htmlBytes / 1e6).toFixed(1)} MB): ${f.viewStatus} in ${f.viewMs} ms, shown as ${f.shown}; ` +
      `/health meanwhile p50 ${f.viewHealth.p50} ms, max ${f.viewHealth.max} ms (${f.viewHealth.count} requests); second view ${f.secondViewMs} ms`,
    `   (its intake over SMTP: 250 after ${f.storeMs} ms; /health meanwhile p50 ${f.storeHealth.p50} ms, max ${f.storeHealth.max} ms, ${f.storeHealth.count} requests)`
  ]
}

export function htmlViewChecks(f: HtmlViewFigures): [string, string, boolean][] {
  return [
    [`HTML view of a 200,000-deep mail < ${HTML_VIEW_TARGETS.viewMs / 1000} s`, `${f.viewMs} ms (${f.viewStatus})`, f.viewStatus === 200 && f.viewMs < HTML_VIEW_TARGETS.viewMs],
    [`/health during that view < ${HTML_VIEW_TARGETS.healthMaxMs} ms`, `${f.viewHealth.max} ms max`, f.viewHealth.count > 0 && f.viewHealth.max < HTML_VIEW_TARGETS.healthMaxMs]
  ]
}

// ---------------------------------------------------------------- standalone

const HOST = '127.0.0.1'
const APP_PORT = 3320
const SMTP_PORT = 3322
const DB_NAME = 'switchboard_bench_html'
const DATABASE_URL = `postgres://postgres@${HOST}:5432/${DB_NAME}`
const QUEUE_PREFIX = 'sbbenchhtml'
const OPERATOR_API_KEY = 'bench-operator-key-0123456789abcdef0123456789'

async function standalone(): Promise<number> {
  const log = (msg: string) => console.log(`[bench:html ${new Date().toISOString().slice(11, 19)}] ${msg}`)
  await adminQuery(`drop database if exists ${DB_NAME} with (force)`)
  await deleteKeys(`${QUEUE_PREFIX}:*`)
  let app: Child | undefined
  const stop = async () => {
    await stopChild(app)
    await deleteKeys(`${QUEUE_PREFIX}:*`).catch((err: Error) => console.error(`could not delete Redis keys ${QUEUE_PREFIX}:*: ${err.message}`))
    await adminQuery(`drop database if exists ${DB_NAME} with (force)`).catch((err: Error) => console.error(`could not drop ${DB_NAME}: ${err.message}`))
  }
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)))
  try {
    app = startChild('app', join(root, 'dist', 'src', 'main.js'), ['all'], {
      DATABASE_URL,
      REDIS_URL,
      QUEUE_PREFIX,
      HOST,
      PORT: String(APP_PORT),
      SMTP_PORT: String(SMTP_PORT),
      NODE_ENV: 'development', // the demo's mail transport: nothing is sent anywhere
      LOAD_DEMO_DATA: 'true',
      OPERATOR_API_KEY,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_INTAKE_PER_MIN: '0',
      RATE_LIMIT_LOOKUP_PER_MIN: '0'
    }, (process.env.BENCH_APP_NODE_ARGS ?? '').split(/\s+/).filter(Boolean))
    await waitReady(app, `http://${HOST}:${APP_PORT}/ready`)
    await sleep(1_000) // the workers' first sweep and catalogue load settle
    const f = await htmlView({ base: `http://${HOST}:${APP_PORT}`, host: HOST, smtpPort: SMTP_PORT, operatorKey: OPERATOR_API_KEY, log })
    console.log('')
    for (const line of htmlViewLines(f)) console.log(line)
    console.log('')
    for (const [target, measured, ok] of htmlViewChecks(f)) console.log(`${target.padEnd(50)}  ${measured.padStart(20)}  ${ok ? 'PASS' : 'FAIL'}`)
    if (app.lines) console.log(`\nthe app wrote ${app.lines} log lines at warn level or above; last ones:\n  ${app.tail.slice(-5).join('\n  ')}`)
    return 0
  } catch (err) {
    if (err instanceof StartError) console.error(`FAILED TO START: ${err.message}\n  ${err.child.tail.join('\n  ')}`)
    else console.error('bench:html failed:', err)
    return 1
  } finally {
    await stop()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exit(await standalone())
