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
// warm the parser and sanitiser before saying ready: the first mail's deadline is not spent
// compiling them (on a loaded machine that alone has taken longer than a short deadline)
sanitiseBounded('<div><p>warm <b>up</b> <a href="https://example.org/">link</a></p></div>')
port.postMessage({ ready: true })
