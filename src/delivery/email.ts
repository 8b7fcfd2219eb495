import { randomBytes } from 'node:crypto'
import nodemailer, { type Transporter } from 'nodemailer'
import { withoutBidiControls } from '../lib/bidi.js'
import type { AttemptResult } from './outcome.js'

/**
 * The mail transport for team mailboxes: SMTP when SMTP_URL is set; otherwise nodemailer's
 * JSON transport, which builds the whole message and sends it nowhere (the demo needs no
 * mail server).
 */
export function createMailTransport(smtpUrl: string | undefined, opts: { pool?: boolean; timeoutMs?: number } = {}): Transporter {
  if (!smtpUrl) return nodemailer.createTransport({ jsonTransport: true })
  if (!opts.pool && !opts.timeoutMs) return nodemailer.createTransport(smtpUrl)
  // nodemailer reads options from the URL's query; a setting the operator put there wins
  const url = new URL(smtpUrl)
  const set = (key: string, value: string) => {
    if (!url.searchParams.has(key)) url.searchParams.set(key, value)
  }
  // pooled: many mails reuse a few SMTP connections instead of a handshake each
  if (opts.pool) set('pool', 'true')
  // bounded: a mail server that stalls fails the attempt (to be retried) within the
  // delivery timeout, as a webhook does, instead of nodemailer's minutes
  if (opts.timeoutMs) for (const key of ['connectionTimeout', 'greetingTimeout', 'socketTimeout']) set(key, String(opts.timeoutMs))
  return nodemailer.createTransport(url.toString())
}

/** What the audit trail says of a mail the demo transport built and sent nowhere. */
export const KEPT_DETAIL = 'kept by the demo mail transport, not sent (SMTP_URL is unset)'

/** True for the no-server transport createMailTransport makes when SMTP_URL is unset. */
export function isDemoTransport(transport: Transporter): boolean {
  return transport.transporter.name === 'JSONTransport'
}

export interface TeamMail {
  from: string
  to: string
  subject: string
  text: string
  deliveryId: string
  caseReference: string
}

/**
 * A team mail's Message-ID: the same for every attempt of one delivery (or erasure notice),
 * so a mailbox that got a mail whose acknowledgement we never saw can tell the retry is
 * the same mail. On the From address's domain, as nodemailer's own would be.
 */
export function teamMailMessageId(deliveryId: string, from: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'localhost'
  return `<sb.delivery.${deliveryId}@${domain}>`
}

// The MIME boundaries' shared part: random once per process rather than per mail (nodemailer
// draws it from the system's random source twice a mail otherwise), then made unique per
// mail by the delivery's id. A resident's words cannot end a part early: they cannot know it.
const BOUNDARY_SECRET = randomBytes(12).toString('hex')

export async function sendTeamMail(transport: Transporter, mail: TeamMail): Promise<AttemptResult> {
  try {
    await transport.sendMail({
      from: mail.from,
      to: mail.to,
      messageId: teamMailMessageId(mail.deliveryId, mail.from),
      baseBoundary: `${BOUNDARY_SECRET}-${mail.deliveryId}`,
      // a resident's words go to the council too: without direction controls, as to residents
      subject: withoutBidiControls(mail.subject),
      text: withoutBidiControls(mail.text),
      headers: {
        'X-Switchboard-Delivery': mail.deliveryId,
        'X-Switchboard-Case': mail.caseReference,
        'Auto-Submitted': 'auto-generated'
      }
    })
    // the JSON transport only builds the message: say so, never that a server accepted it
    if (isDemoTransport(transport)) return { ok: true, kept: true, permanent: false, status: null, detail: KEPT_DETAIL }
    return { ok: true, permanent: false, status: null, detail: 'accepted by the mail server' }
  } catch (err) {
    const e = err as Error & { responseCode?: number; code?: string }
    // SMTP 5xx (mailbox unknown, refused) will not change on retry; 4xx and network errors may.
    const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500
    return { ok: false, permanent, status: e.responseCode ?? null, detail: `mail not accepted: ${e.responseCode ?? e.code ?? e.message}` }
  }
}
