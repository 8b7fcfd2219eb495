import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { Config } from '../../config.js'
import { AppError } from '../../errors.js'
import type { Db } from '../../db/pool.js'
import type { InboundContact } from '../../intake/inbound-contact.js'
import { intakeParams } from '../../intake/intake.js'
import type { OutboxRow } from '../../jobs/outbox-relay.js'
import { findPostcode, formatPostcode } from '../../lib/postcode.js'
import { normaliseEmail } from '../../lib/contact-points.js'
import { headerSafe, newMessageId, newReplyToken } from '../../messaging/email-outbound.js'
import { renderTemplate } from '../../messaging/templates.js'
import type { IntakePressure } from '../../lib/intake-pressure.js'
import type { Catalogue } from '../../catalogue/catalogue.js'
import type { Mailboxes, OurRecipient } from './mailboxes.js'
import { cutAt } from './attachments.js'
import { MailParseError, parseMail, type ParsedMail } from './parse-mail.js'
import type { EmailStore } from './email-store.js'
import { checkSender, type DnsResolver, type SenderCheck } from './sender-auth.js'
import { referenceInSubject, referenceOfAnotherSender, threadByMessageId, threadByReplyToken, type ProvenThread } from './threading.js'

/** One message as it reached us, by SMTP or a provider's webhook, before anything is made of it. */
export interface ArrivedEmail {
  raw: Buffer
  /** 'smtp' or 'http:<source name>' */
  source: string
  /** MAIL FROM: '' for the null sender (<>) of bounces; null when the transport gave none */
  envelopeFrom: string | null
  /** the recipients of ours it was addressed to (already checked) */
  recipients: OurRecipient[]
  /** the SMTP client that handed it to our listener; null from a provider's webhook */
  client: { ip: string; helo: string | null } | null
}

export type ReceiveOutcome =
  | { outcome: 'accepted'; reference: string; opened: boolean; kind: InboundContact['kind'] }
  | { outcome: 'duplicate'; reference: string | null }
  | { outcome: 'quarantined'; id: number; reason: string }

export interface ReceiveDeps {
  db: Db
  catalogue: Catalogue
  mailboxes: Mailboxes
  config: Pick<Config, 'EMAIL_DOMAIN' | 'EMAIL_MAX_ATTACHMENTS' | 'EMAIL_MAX_ATTACHMENT_BYTES' | 'EMAIL_ACK_WINDOW_MINUTES' | 'EMAIL_ACK_MAX_PER_WINDOW'>
  log: Logger
  /** hands committed outbox rows to the queues (route the case, send the acknowledgement) */
  relay: (row: OutboxRow) => void
  /** mail being taken in (SMTP sessions, webhook requests), so that this process's routing holds back during a burst */
  pressure: IntakePressure
  /** DNS for the sender's SPF, DKIM and DMARC */
  resolver: DnsResolver
  /** stores each mail (switchboard_email_intake), several at once during a burst */
  store: EmailStore
}

/**
 * Takes one email in, by SMTP or webhook alike. Nothing is answered before it is committed:
 * the raw bytes always (inbound_emails), and either the message on a case or a quarantine
 * entry. Throws only when Postgres cannot take it, so the sender retries (SMTP 451, HTTP 503).
 */
export async function receiveEmail(deps: ReceiveDeps, mail: ArrivedEmail): Promise<ReceiveOutcome> {
  // the same bytes a second time are found by switchboard_email_intake (no query of their own)
  const sha256 = createHash('sha256').update(mail.raw).digest('hex')
  // DNS answers arrive while the message is parsed
  const check = checkSender(mail.raw, mail.client ? { ...mail.client, mailFrom: mail.envelopeFrom } : null, { resolver: deps.resolver, mta: deps.config.EMAIL_DOMAIN })
  return takeIn(deps, mail, sha256, null, check)
}

/**
 * A supervisor's release of a quarantined mail: taken in as a person's mail would be (a
 * case of its own unless it proves a thread), never acknowledged automatically.
 */
export async function releaseQuarantined(deps: ReceiveDeps, id: number, by: string): Promise<ReceiveOutcome | null> {
  const { rows } = await deps.db.query<{ bytes: Buffer | null; sha256: string; source: string; envelope_from: string | null; recipients: string[] }>(
    `select bytes, sha256, source, envelope_from, recipients from inbound_emails where id = $1 and state = 'quarantined'`,
    [id]
  )
  const row = rows[0]
  if (!row?.bytes) return null
  const recipients = row.recipients.map((a) => deps.mailboxes.recognise(a)).filter((r): r is OurRecipient => r !== null)
  return takeIn(deps, { raw: row.bytes, source: row.source, envelopeFrom: row.envelope_from, recipients, client: null }, row.sha256, { id, by }, null)
}

async function takeIn(
  deps: ReceiveDeps,
  mail: ArrivedEmail,
  sha256: string,
  release: { id: number; by: string } | null,
  check: Promise<SenderCheck> | null
): Promise<ReceiveOutcome> {
  let parsed: ParsedMail
  try {
    parsed = await parseMail(mail.raw, {
      ourDomains: [deps.config.EMAIL_DOMAIN.toLowerCase()],
      maxAttachments: deps.config.EMAIL_MAX_ATTACHMENTS,
      maxAttachmentBytes: deps.config.EMAIL_MAX_ATTACHMENT_BYTES
    })
  } catch (err) {
    if (!(err instanceof MailParseError)) deps.log.warn({ err }, 'email parser failed; message quarantined')
    if (release) throw new AppError('not_in_quarantine', { message: 'This message cannot be parsed, so it cannot be put on a case; download it, or discard it' })
    return quarantine(deps, mail, sha256, null, 'the message could not be parsed')
  }

  // started before parsing (never rejects): its DNS lookups overlap the parse
  const sender = await check
  const senderEmail = parsed.from ? normaliseEmail(parsed.from.address) : null
  const thread = await findThread(deps, mail, parsed)
  const { kind, problem } = decide(parsed, senderEmail, thread)
  if (problem && !release) return quarantine(deps, mail, sha256, parsed, problem)
  const mailbox = mail.recipients.find((r) => r.kind === 'mailbox')?.address ?? null
  const address = deps.catalogue.inboundAddress('email', mailbox)
  // a subject naming someone else's case: not joined to it; a case of its own, flagged
  const quoted = thread ? null : referenceInSubject(parsed.subject)
  const flags: string[] = []
  if (quoted && senderEmail && (await referenceOfAnotherSender(deps.db, quoted, senderEmail))) flags.push('reference_of_another_sender')
  if (parsed.spoofSuspect) flags.push('sender_not_authenticated')

  const contact: InboundContact = {
    channel: 'email',
    provider: 'email',
    // the same Message-ID to the same mailbox is the same message; no Message-ID: the bytes
    providerMessageId: parsed.messageId ? `${mailbox ?? mail.recipients[0]?.address ?? ''}|${parsed.messageId}` : `sha256:${sha256}`,
    rawPayload: payloadOf(mail, parsed, sender),
    payloadHash: sha256,
    sender: {
      name: parsed.from?.name ? headerSafe(parsed.from.name, 200) : null,
      // a bounce's From is a mail server; a From the provider reports as failing SPF/DKIM/DMARC
      // is kept in the raw record only, never linked to the resident who holds that address
      email: kind === 'bounce' || parsed.spoofSuspect ? null : senderEmail,
      phone: null,
      raw: parsed.from?.address ?? null,
      // a reply quoting our Message-ID or reply address, from the address our mail went to,
      // proves that address; any other From is a claim
      verified: { email: Boolean(thread && !kind && senderEmail && thread.sentTo && senderEmail === thread.sentTo.toLowerCase()) }
    },
    recipient: mailbox ?? mail.recipients[0]?.address ?? null,
    text: parsed.text,
    location: { postcode: postcodeIn(`${parsed.subject}\n${parsed.text}`), lat: null, lng: null },
    serviceCode: null,
    councilGss: address?.councilGss ?? null,
    threadReference: quoted && !flags.includes('reference_of_another_sender') ? quoted : null,
    ...(thread ? { threadCase: { caseId: thread.caseId, how: kind === 'bounce' ? 'bounce' : thread.how } } : {}),
    subject: parsed.subject,
    html: parsed.html,
    kind,
    flags,
    attachmentsOmitted: parsed.attachmentsOmitted
  }

  const ack = !release && !kind && senderEmail && contact.recipient && mayAcknowledge(deps, parsed, senderEmail, sender) ? acknowledgement(deps, senderEmail, contact.recipient, parsed, address) : null
  const row = await deps.store.submit({
    p: intakeParams(contact),
    raw: mail.raw,
    e: {
      sha256,
      source: mail.source,
      envelope_from: mail.envelopeFrom,
      recipients: mail.recipients.map((r) => r.address),
      // cut between characters, never inside a surrogate pair (jsonb refuses half of one)
      subject: cutAt(parsed.subject, 250),
      release_id: release?.id ?? null,
      release_by: release?.by ?? null,
      attachments: parsed.attachments.map((a, position) => ({
        position,
        content_type: a.contentType,
        refused: a.refused,
        size: a.size,
        content: a.refused ? null : a.content.toString('base64'),
        filename: a.filename,
        content_id: a.contentId,
        inline: a.inline,
        sha256: a.sha256
      })),
      bounce: kind === 'bounce' && thread?.messageId && parsed.bounce?.permanent !== false ? { message_id: thread.messageId, detail: bounceDetail(parsed) } : null,
      ack
    }
  })
  if (!row) return { outcome: 'duplicate', reference: null }
  if (row.replayed) return { outcome: 'duplicate', reference: row.reference }
  if (row.outbox_id !== null && row.outbox_job_key !== null) deps.relay({ id: row.outbox_id, topic: 'case:route', payload: { case_id: row.case_id }, job_key: row.outbox_job_key })
  if (row.ack_outbox_id !== null && row.ack_job_key !== null && row.ack_message_id !== null) {
    deps.relay({ id: row.ack_outbox_id, topic: 'message:send', payload: { message_id: row.ack_message_id }, job_key: row.ack_job_key })
  }
  deps.log.info({ caseReference: row.reference, opened: row.opened, kind, thread: thread?.how ?? null, senderPassed: sender?.passed ?? null, acknowledged: row.ack_outbox_id !== null }, 'email accepted')
  return { outcome: 'accepted', reference: row.reference, opened: row.opened, kind }
}

/** Our Message-ID quoted back (or, for a bounce, inside the returned original), else a reply address. */
async function findThread(deps: ReceiveDeps, mail: ArrivedEmail, parsed: ParsedMail): Promise<ProvenThread | null> {
  const ids = parsed.classification.bounce && parsed.bounce ? [...parsed.bounce.originalMessageIds, ...parsed.references] : parsed.references
  const byId = await threadByMessageId(deps.db, ids, deps.config.EMAIL_DOMAIN)
  if (byId) return byId
  for (const r of mail.recipients) {
    if (r.kind !== 'reply') continue
    const byToken = await threadByReplyToken(deps.db, r.token)
    if (byToken) return byToken
  }
  return null
}

/**
 * What the mail is, and whether it may go on a case at all. Automatic mail (an
 * out-of-office, a bounce, list mail) only ever attaches to a case it proves it belongs
 * to; with none it waits in quarantine for a person, as does mail with no usable sender.
 */
function decide(parsed: ParsedMail, senderEmail: string | null, thread: ProvenThread | null): { kind: InboundContact['kind']; problem: string | null } {
  const c = parsed.classification
  if (c.bounce) return { kind: 'bounce', problem: thread ? null : 'a delivery failure report for no mail of ours' }
  if (c.autoReply) return { kind: 'auto_reply', problem: thread ? null : 'an automatic reply not linked to any case' }
  if (c.list) return { kind: 'list', problem: thread ? null : 'list or bulk mail not linked to any case' }
  if (!senderEmail && !thread) return { kind: null, problem: 'no usable sender address (From)' }
  return { kind: null, problem: null }
}

/**
 * Never answer a robot, a list, a spoofed sender or our own mail come back, nor anyone
 * whose mail SPF, DKIM and DMARC do not show to be theirs: a forged From would aim our
 * mail at a stranger. How often one address may be answered is counted where the
 * acknowledgement is queued, in the same transaction (switchboard_email_intake).
 */
function mayAcknowledge(deps: ReceiveDeps, parsed: ParsedMail, to: string, sender: SenderCheck | null): boolean {
  if (!sender?.passed || parsed.classification.noAutoAnswer.length || parsed.spoofSuspect) return false
  return !to.endsWith(`@${deps.config.EMAIL_DOMAIN.toLowerCase()}`) && !deps.catalogue.inboundAddress('email', to)
}

/**
 * The acknowledgement to queue if the mail opens a case; `{reference}` is filled in by SQL.
 * Its subject is our own words: echoing the sender's would let anyone put their text (a
 * link, right-to-left tricks) in a mail from the council.
 */
function acknowledgement(deps: ReceiveDeps, to: string, from: string, parsed: ParsedMail, address: ReturnType<Catalogue['inboundAddress']>) {
  const council = address?.councilGss ? deps.catalogue.councils.get(address.councilGss)?.name : null
  return {
    to,
    from,
    subject: 'We have your message [Ref: {reference}]',
    body: renderTemplate(deps.catalogue.template('email_acknowledgement', address), { name: council ?? 'your council' }),
    message_id: newMessageId(deps.config.EMAIL_DOMAIN),
    reply_token: newReplyToken(),
    thread: { inReplyTo: parsed.messageId, references: parsed.messageId ? [...parsed.references, parsed.messageId].slice(-20) : [], automatic: true },
    window_minutes: deps.config.EMAIL_ACK_WINDOW_MINUTES,
    max_per_window: deps.config.EMAIL_ACK_MAX_PER_WINDOW
  }
}

function bounceDetail(parsed: ParsedMail): string {
  return `bounced: ${(parsed.bounce?.failedRecipients ?? []).join(', ') || 'delivery failed'}`.slice(0, 300)
}

/** Kept as it came, for a supervisor to release or discard; answered as accepted (it is stored). */
async function quarantine(deps: ReceiveDeps, mail: ArrivedEmail, sha256: string, parsed: ParsedMail | null, reason: string): Promise<ReceiveOutcome> {
  const { rows } = await deps.db.query<{ id: number }>({
    name: 'email-quarantine',
    text: `insert into inbound_emails (sha256, bytes, size_bytes, source, envelope_from, recipients, state, reason, subject)
           values ($1, $2, $3, $4, $5, $6, 'quarantined', $7, $8) on conflict (sha256) do nothing returning id`,
    values: [sha256, mail.raw, mail.raw.length, mail.source, mail.envelopeFrom, mail.recipients.map((r) => r.address), reason, parsed?.subject.slice(0, 250) ?? null]
  })
  if (!rows[0]) return { outcome: 'duplicate', reference: null }
  deps.log.info({ quarantineId: rows[0].id, reason }, 'email quarantined')
  return { outcome: 'quarantined', id: rows[0].id, reason }
}

function postcodeIn(text: string): string | null {
  // the quoted thread of a reply may hold an older postcode: only the first 4,000 characters count
  const found = findPostcode(text.slice(0, 4_000))
  return found ? formatPostcode(found) : null
}

/** What raw_inbound keeps of a mail besides its bytes (which inbound_emails holds). */
function payloadOf(mail: ArrivedEmail, p: ParsedMail, sender: SenderCheck | null): Record<string, unknown> {
  return {
    source: mail.source,
    senderCheck: sender,
    envelopeFrom: mail.envelopeFrom,
    recipients: mail.recipients.map((r) => r.address),
    messageId: p.messageId,
    inReplyTo: p.inReplyTo,
    references: p.references,
    from: p.from,
    replyTo: p.replyTo,
    to: p.to,
    cc: p.cc,
    subject: p.subject,
    date: p.date?.toISOString() ?? null,
    classification: p.classification,
    bounce: p.bounce,
    spoofSuspect: p.spoofSuspect,
    headers: p.headers,
    attachments: p.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size, sha256: a.sha256, refused: a.refused })),
    attachmentsOmitted: p.attachmentsOmitted
  }
}
