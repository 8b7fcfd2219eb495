import { parentPort } from 'node:worker_threads'
import { sanitiseBounded, type SafeHtml } from './html-limits.js'

/** The thread HtmlSanitiser runs: one mail's HTML in, its bounded sanitising out. */
const port = parentPort!
port.on('message', (task: { id: number; html: string }) => {
  let out: SafeHtml
  try {
    out = sanitiseBounded(task.html)
  } catch {
    out = { state: 'failed' }
  }
  port.postMessage({ id: task.id, ...out })
})
port.postMessage({ ready: true })
