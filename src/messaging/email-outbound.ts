import { randomBytes, randomUUID } from 'node:crypto'
import type { Transporter } from 'nodemailer'
import type { Queryable } from '../db/pool.js'
import { isDemoTransport, KEPT_DETAIL } from '../delivery/email.js'
import { eventsFrom, sql } from '../events/record.js'
import type { OutboxRow } from '../jobs/outbox-relay.js'
import { withoutBidiControls } from '../lib/bidi.js'

/** The headers that keep a mail on its thread, as stored with the outbound message. */
export interface ThreadHeaders {
  inReplyTo: string | null
  references: string[]
  /** automatic mail (an acknowledgement): says so, so other robots do not answer it */
  automatic: boolean
}

export interface QueuedEmail {
  caseId: number
  to: string
  /** our mailbox the resident wrote to; the From of our mail */
  from: string
  subject: string
  body: string
  thread: ThreadHeaders
  author: string
  /** the case event's reason */
  why: string
  emailDomain: string
}

/**
 * Our Message-IDs carry our domain, so a reply quoting one threads onto its case, and a
 * mail that comes back carrying one is recognised as our own.
 */
export function newMessageId(emailDomain: string): string {
  return `<sb.${randomUUID()}@${emailDomain}>`
}

/** A case's reply-address token: 18 random bytes, base64url (24 characters). */
export function newReplyToken(): string {
  return randomBytes(18).toString('base64url')
}

/** Header text from anything a resident wrote: one line (no CR/LF to inject headers), bounded. */
export function headerSafe(value: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, max)
}

/**
 * Queues a mail to a resident on a case, with its outbox row for message:send: the message
 * (its Message-ID fixed now, so a reply threads even before it is sent), the case's reply
 * token (made once), an event. Run inside the caller's transaction where there is one.
 */
export async function queueEmail(db: Queryable, m: QueuedEmail): Promise<OutboxRow> {
  const event = eventsFrom(
    { from: 'm', caseId: sql('case_id'), type: 'message.queued', actor: m.author, reason: m.why, data: { message_id: sql<number>('id'), channel: 'email' } },
    [m.caseId, m.body, headerSafe(m.subject, 250), m.from, m.to, newMessageId(m.emailDomain), m.author, JSON.stringify(m.thread), newReplyToken()]
  )
  const { rows } = await db.query<OutboxRow>({
    name: 'email-queue',
    text: `with token as (
       update cases set reply_token = coalesce(reply_token, $9) where id = $1 returning id
     ), m as (
       insert into messages (case_id, direction, channel, body, subject, sender, recipient, provider, provider_message_id,
                             status, status_rank, status_changed_at, author, thread_headers)
       select $1, 'outbound', 'email', $2, $3, $4, $5, 'smtp', $6, 'pending', 0, clock_timestamp(), $7, $8 from token
       returning id, case_id
     ), event as (${event.text})
     insert into outbox (topic, payload) select 'message:send', jsonb_build_object('message_id', id) from m
     returning id, topic, payload, job_key`,
    values: event.values
  })
  const row = rows[0]
  if (!row) throw new Error(`case ${m.caseId} not found for an email`)
  return row
}

/** An outbound mail as the send worker reads it. */
export interface EmailToSend {
  id: number
  from: string
  to: string
  subject: string
  body: string
  messageId: string
  replyTo: string | null
  thread: ThreadHeaders
  caseReference: string
}

export type EmailSendResult = { ok: true; status: 'sent' | 'kept'; detail: string } | { ok: false; permanent: boolean; detail: string }

/**
 * Sends one mail through the relay in SMTP_URL (pooled connections), or, with no relay
 * configured, builds it and keeps it (status 'kept': shown on the case as not sent). Every
 * header comes from our own records; the subject was made one line when it was queued.
 * Direction controls are taken out of everything that goes (see withoutBidiControls).
 */
export async function sendEmail(transport: Transporter, mail: EmailToSend): Promise<EmailSendResult> {
  const clean = withoutBidiControls
  const headers: Record<string, string> = { 'X-Switchboard-Case': clean(mail.caseReference) }
  if (mail.thread.automatic) {
    // RFC 3834: an automatic answer; Microsoft's header asks Exchange not to answer it in turn
    headers['Auto-Submitted'] = 'auto-replied'
    headers['X-Auto-Response-Suppress'] = 'All'
  }
  try {
    await transport.sendMail({
      from: clean(mail.from),
      to: clean(mail.to),
      subject: headerSafe(clean(mail.subject), 250),
      text: clean(mail.body),
      messageId: mail.messageId,
      ...(mail.replyTo ? { replyTo: clean(mail.replyTo) } : {}),
      ...(mail.thread.inReplyTo ? { inReplyTo: mail.thread.inReplyTo } : {}),
      ...(mail.thread.references.length ? { references: mail.thread.references } : {}),
      headers
    })
    if (isDemoTransport(transport)) return { ok: true, status: 'kept', detail: KEPT_DETAIL }
    return { ok: true, status: 'sent', detail: 'accepted by the mail relay' }
  } catch (err) {
    const e = err as Error & { responseCode?: number; code?: string }
    const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500
    return { ok: false, permanent, detail: `mail not accepted: ${e.responseCode ?? e.code ?? e.message}` }
  }
}

/**
 * A person's reply by email to a case that came by email: to the address that reported it,
 * from the mailbox it was sent to, on the thread of the resident's latest mail (In-Reply-To
 * and References), with the case reference in the subject. Null when the case has no email.
 */
export async function queueEmailReply(db: Queryable, reference: string, body: string, author: string, emailDomain: string): Promise<{ messageId: number; outbox: OutboxRow } | null> {
  const { rows } = await db.query<{ id: number; reported_email: string | null; contacted_address: string | null; subject: string | null; payload: { messageId?: string | null; references?: string[] } | null }>(
    `select c.id, c.reported_email, c.contacted_address, m.subject, r.payload
       from cases c
       left join lateral (select subject, raw_inbound_id from messages
                           where case_id = c.id and direction = 'inbound' and channel = 'email' and kind is null
                           order by id desc limit 1) m on true
       left join raw_inbound r on r.id = m.raw_inbound_id
      where c.reference = $1 and c.channel = 'email'`,
    [reference]
  )
  const c = rows[0]
  if (!c?.reported_email || !c.contacted_address) return null
  const last = c.payload?.messageId ?? null
  const topic = (c.subject ?? '').replace(/^((re|aw|sv|fwd?):\s*)+/i, '').replace(/\s*\[Ref: [^\]]*\]\s*/i, ' ').trim()
  const outbox = await queueEmail(db, {
    caseId: c.id,
    to: c.reported_email,
    from: c.contacted_address,
    subject: `Re: ${topic || 'Your report'} [Ref: ${reference}]`,
    body,
    thread: { inReplyTo: last, references: last ? [...(c.payload?.references ?? []), last].slice(-20) : [], automatic: false },
    author,
    why: 'A reply to the resident was queued to go by email',
    emailDomain
  })
  return { messageId: (outbox.payload as { message_id: number }).message_id, outbox }
}
