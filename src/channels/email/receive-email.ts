import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { Config } from '../../config.js'
import { AppError } from '../../errors.js'
import { withTransaction, type Db, type DbClient } from '../../db/pool.js'
import type { InboundContact } from '../../intake/inbound-contact.js'
import { intakeContact } from '../../intake/intake.js'
import type { OutboxRow } from '../../jobs/outbox-relay.js'
import { findPostcode, formatPostcode } from '../../lib/postcode.js'
import { normaliseEmail } from '../../lib/contact-points.js'
import { headerSafe, queueEmail, recentAutomaticMails } from '../../messaging/email-outbound.js'
import { renderTemplate } from '../../messaging/templates.js'
import type { Catalogue } from '../../routing/catalogue.js'
import type { Mailboxes, OurRecipient } from './mailboxes.js'
import { MailParseError, parseMail, type ParsedMail } from './parse-mail.js'
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
}

class Duplicate extends Error {}

/**
 * Takes one email in, by SMTP or webhook alike. Nothing is answered before it is committed:
 * the raw bytes always (inbound_emails), and either the message on a case or a quarantine
 * entry. Throws only when Postgres cannot take it, so the sender retries (SMTP 451, HTTP 503).
 */
export async function receiveEmail(deps: ReceiveDeps, mail: ArrivedEmail): Promise<ReceiveOutcome> {
  const sha256 = createHash('sha256').update(mail.raw).digest('hex')
  const seen = await deps.db.query<{ reference: string | null }>({
    name: 'email-seen-bytes',
    text: `select c.reference from inbound_emails e left join raw_inbound r on r.id = e.raw_inbound_id left join cases c on c.id = r.case_id where e.sha256 = $1`,
    values: [sha256]
  })
  if (seen.rows.length) return { outcome: 'duplicate', reference: seen.rows[0]!.reference }
  return takeIn(deps, mail, sha256, null)
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
  return takeIn(deps, { raw: row.bytes, source: row.source, envelopeFrom: row.envelope_from, recipients }, row.sha256, { id, by })
}

async function takeIn(deps: ReceiveDeps, mail: ArrivedEmail, sha256: string, release: { id: number; by: string } | null): Promise<ReceiveOutcome> {
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
    rawPayload: payloadOf(mail, parsed),
    payloadHash: sha256,
    sender: {
      name: parsed.from?.name ? headerSafe(parsed.from.name, 200) : null,
      email: kind === 'bounce' ? null : senderEmail,
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

  try {
    const done = await withTransaction(deps.db, async (client) => {
      const stored = release
        ? await client.query<{ id: number }>(
            `update inbound_emails set state = 'released', decided_by = $2, decided_at = now() where id = $1 and state = 'quarantined' returning id`,
            [release.id, release.by]
          )
        : await client.query<{ id: number }>({
            name: 'email-store-raw',
            text: `insert into inbound_emails (sha256, bytes, size_bytes, source, envelope_from, recipients, state, subject)
                   values ($1, $2, $3, $4, $5, $6, 'accepted', $7) on conflict (sha256) do nothing returning id`,
            values: [sha256, mail.raw, mail.raw.length, mail.source, mail.envelopeFrom, mail.recipients.map((r) => r.address), parsed.subject.slice(0, 250)]
          })
      if (!stored.rows[0]) throw new Duplicate()
      const result = await intakeContact(client, contact)
      if (result.replayed) throw new Duplicate()
      const messageId = await linkRawAndAttachments(client, stored.rows[0].id, contact, parsed)
      const rows: OutboxRow[] = result.outbox ? [result.outbox] : []
      if (kind === 'bounce' && thread) await markBounced(client, thread, parsed)
      if (!release && result.opened && !kind && senderEmail && (await mayAcknowledge(deps, client, parsed, senderEmail))) {
        rows.push(await acknowledge(deps, client, { caseId: result.caseId, reference: result.reference, to: senderEmail, from: contact.recipient!, parsed, address }))
      }
      return { result, rows, messageId }
    })
    for (const row of done.rows) deps.relay(row)
    deps.log.info({ caseReference: done.result.reference, opened: done.result.opened, kind, thread: thread?.how ?? null }, 'email accepted')
    return { outcome: 'accepted', reference: done.result.reference, opened: done.result.opened, kind }
  } catch (err) {
    if (err instanceof Duplicate) return { outcome: 'duplicate', reference: await referenceOf(deps.db, contact) }
    throw err
  }
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

/** Never answer a robot, a list, a spoofed sender, our own mail come back, or too often. */
async function mayAcknowledge(deps: ReceiveDeps, db: DbClient, parsed: ParsedMail, to: string): Promise<boolean> {
  if (parsed.classification.noAutoAnswer.length || parsed.spoofSuspect) return false
  if (to.endsWith(`@${deps.config.EMAIL_DOMAIN.toLowerCase()}`) || deps.catalogue.inboundAddress('email', to)) return false
  return (await recentAutomaticMails(db, to, deps.config.EMAIL_ACK_WINDOW_MINUTES)) < deps.config.EMAIL_ACK_MAX_PER_WINDOW
}

async function acknowledge(
  deps: ReceiveDeps,
  db: DbClient,
  a: { caseId: number; reference: string; to: string; from: string; parsed: ParsedMail; address: ReturnType<Catalogue['inboundAddress']> }
): Promise<OutboxRow> {
  const council = a.address?.councilGss ? deps.catalogue.councils.get(a.address.councilGss)?.name : null
  const body = renderTemplate(deps.catalogue.template('email_acknowledgement', a.address), { reference: a.reference, name: council ?? 'your council' })
  const subject = `${a.parsed.subject ? `Re: ${a.parsed.subject.replace(/^(re|aw|sv):\s*/i, '')}` : 'Your message'} [Ref: ${a.reference}]`
  return queueEmail(db, {
    caseId: a.caseId,
    to: a.to,
    from: a.from,
    subject,
    body,
    thread: { inReplyTo: a.parsed.messageId, references: a.parsed.messageId ? [...a.parsed.references, a.parsed.messageId].slice(-20) : [], automatic: true },
    author: 'system:acknowledgement',
    why: 'Acknowledgement with the case reference queued to go by email',
    emailDomain: deps.config.EMAIL_DOMAIN
  })
}

/** The raw mail points at its message; attachments are stored under generated keys. */
async function linkRawAndAttachments(db: DbClient, inboundEmailId: number, contact: InboundContact, parsed: ParsedMail): Promise<number> {
  const { rows } = await db.query<{ raw_id: number; message_id: number }>({
    name: 'email-link-raw',
    text: `with r as (select id from raw_inbound where provider = $1 and provider_message_id = $2),
                e as (update inbound_emails set raw_inbound_id = (select id from r) where id = $3)
           select r.id as raw_id, m.id as message_id from r join messages m on m.raw_inbound_id = r.id`,
    values: [contact.provider, contact.providerMessageId, inboundEmailId]
  })
  const messageId = rows[0]!.message_id
  const kept = parsed.attachments
  if (kept.length) {
    await db.query({
      name: 'email-store-attachments',
      text: `insert into message_media (message_id, position, content_type, state, detail, size_bytes, content, fetched_at, filename, content_id, inline, sha256)
             select $1, a.position, a.content_type, case when a.refused is null then 'stored' else 'refused' end, a.refused, a.size,
                    case when a.refused is null then decode(a.content, 'base64') end, now(), a.filename, a.content_id, a.inline, a.sha256
               from jsonb_to_recordset($2::jsonb) as a(position int, content_type text, refused text, size int, content text, filename text, content_id text, inline boolean, sha256 text)`,
      values: [
        messageId,
        JSON.stringify(
          kept.map((a, position) => ({
            position,
            content_type: a.contentType,
            refused: a.refused,
            size: a.size,
            content: a.refused ? null : a.content.toString('base64'),
            filename: a.filename,
            content_id: a.contentId,
            inline: a.inline,
            sha256: a.sha256
          }))
        )
      ]
    })
  }
  return messageId
}

/** A bounce of our mail: that message failed, and the address it went to is failing. */
async function markBounced(db: DbClient, thread: ProvenThread, parsed: ParsedMail): Promise<void> {
  if (!thread.messageId || parsed.bounce?.permanent === false) return // a delay report: it may still arrive
  const detail = `bounced: ${(parsed.bounce?.failedRecipients ?? []).join(', ') || 'delivery failed'}`.slice(0, 300)
  await db.query({
    name: 'email-mark-bounced',
    text: `with m as (
             update messages set status = 'failed', status_rank = 4, status_detail = $2, status_changed_at = clock_timestamp()
              where id = $1 and status_rank < 4 returning recipient
           )
           update contact_points set failing_since = coalesce(failing_since, now()), failing_detail = $2
            where kind = 'email' and value = (select lower(recipient) from messages where id = $1)`,
    values: [thread.messageId, detail]
  })
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

async function referenceOf(db: Db, contact: InboundContact): Promise<string | null> {
  const { rows } = await db.query<{ reference: string }>(
    `select c.reference from raw_inbound r join cases c on c.id = r.case_id where r.provider = $1 and r.provider_message_id = $2`,
    [contact.provider, contact.providerMessageId]
  )
  return rows[0]?.reference ?? null
}

/** What raw_inbound keeps of a mail besides its bytes (which inbound_emails holds). */
function payloadOf(mail: ArrivedEmail, p: ParsedMail): Record<string, unknown> {
  return {
    source: mail.source,
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
