import type { CaseRead } from '../../data-protection/access-log.js'
import type { Queryable } from '../../db/pool.js'
import type { HtmlSanitiser } from './html-sanitiser.js'
import type { SafeHtmlState } from './html-limits.js'

const WHY_NOT: Record<Exclude<SafeHtmlState, 'sanitised'>, string> = {
  too_big: 'its HTML is too large to be shown safely',
  too_deep: 'its HTML is nested too deeply to be shown safely',
  timed_out: 'its HTML took too long to make safe',
  failed: 'its HTML could not be made safe'
}

/**
 * A mail's HTML as agents may see it. It is sanitised once, the first time it is asked for
 * (on a thread of its own, bounded: see HtmlSanitiser), and the result replaces the HTML
 * as received (the raw message keeps that), so every later view is a read. HTML that
 * cannot be made safe within the bounds is replaced by the text part with a note saying
 * why. Null when the message has no HTML part (or it was erased).
 */
export async function safeHtmlOf(db: Queryable, sanitiser: HtmlSanitiser, messageId: number): Promise<{ html: string; read: CaseRead } | null> {
  const { rows } = await db.query<{ html: string | null; html_state: SafeHtmlState | null; body: string } & CaseRead>(
    'select m.html, m.html_state, m.body, c.id, c.reference, c.council_gss from messages m join cases c on c.id = m.case_id where m.id = $1',
    [messageId]
  )
  const row = rows[0]
  if (row?.html == null) return null
  const read: CaseRead = { id: row.id, reference: row.reference, council_gss: row.council_gss }
  if (row.html_state !== null) return { html: row.html, read }

  const out = await sanitiser.sanitise(row.html)
  const html = out.state === 'sanitised' ? out.html : fallbackPage(row.body, WHY_NOT[out.state])
  // a thread that failed (or a shutdown) is no verdict on the mail: it is tried again next time
  if (out.state === 'failed') return { html, read }
  // kept only if nobody got there first, and never over an erasure (html null)
  await db.query(`update messages set html = $2, html_state = $3 where id = $1 and html_state is null and html is not null`, [messageId, html, out.state])
  return { html, read }
}

/** The text part, escaped, under a note: what an agent sees of HTML we would not sanitise. */
export function fallbackPage(text: string, why: string): string {
  return (
    `<p><strong>The formatting of this message is not shown:</strong> ${why}. Its text follows.</p>\n` +
    `<pre style="white-space: pre-wrap">${escapeHtml(text.trim() || '(the message has no text part)')}</pre>\n`
  )
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
