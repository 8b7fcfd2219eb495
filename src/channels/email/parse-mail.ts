import { parseAddressHeader, simpleParser, type Attachment, type HeaderLines, type ParsedMail as MailparserResult, type SimpleParserOptions, type StructuredHeader } from 'mailparser'
import { attachmentRefusal, bareContentType, cutAt, safeFilename } from './attachments.js'
import { toWellFormedText } from '../../lib/well-formed-json.js'
import { classifyMail, type MailClassification, type RawHeaders } from './classify.js'

export type { MailClassification } from './classify.js'

export interface MailAddress {
  address: string
  name: string | null
}

export interface MailAttachment {
  /** base name only, no control characters, at most 200 characters, never empty */
  filename: string
  /** lower case, parameters removed */
  contentType: string
  size: number
  /** hex */
  sha256: string
  content: Buffer
  /** Content-Disposition inline, or a Content-ID the HTML refers to */
  inline: boolean
  /** without angle brackets */
  contentId: string | null
  /** null if it may be stored; else why not */
  refused: string | null
}

export interface BounceReport {
  /** Message-ID(s) of the returned original: the case it belongs to is found through them */
  originalMessageIds: string[]
  failedRecipients: string[]
  /** Action: failed, as opposed to delayed (the server is still trying) */
  permanent: boolean
}

export interface ParsedMail {
  /** with angle brackets; null when absent or empty */
  messageId: string | null
  /** first msg-id of In-Reply-To, with brackets */
  inReplyTo: string | null
  /** every msg-id of References then In-Reply-To, de-duplicated, with brackets */
  references: string[]
  /** top-level From, address exactly as written; null if there is no address */
  from: MailAddress | null
  /** null also when the address is unusable (`<"">`), so a reply falls back to From */
  replyTo: MailAddress | null
  /** '' for `<>`, null when the header is absent */
  returnPath: string | null
  to: MailAddress[]
  cc: MailAddress[]
  /** decoded, one line, at most 998 characters */
  subject: string
  date: Date | null
  /** the text part, else text made from the HTML; NUL bytes stripped */
  text: string
  /** raw HTML as sent (unsanitised, see sanitiseHtml), NUL stripped */
  html: string | null
  attachments: MailAttachment[]
  /** how many beyond the cap were not kept (the raw message still has them) */
  attachmentsOmitted: number
  classification: MailClassification
  bounce: BounceReport | null
  /** e.g. "dmarc=fail" when an Authentication-Results header reports a failure */
  spoofSuspect: string | null
  /** a few headers kept for the record, lower-case keys; repeated headers joined by newlines */
  headers: Record<string, string>
}

export interface ParseOptions {
  /** lower-case domains of our own Message-IDs */
  ourDomains: string[]
  maxAttachments: number
  /** per file; bigger ones are listed with `refused` set */
  maxAttachmentBytes: number
}

/** The bytes cannot be read as a mail at all: the caller quarantines the raw message. */
export class MailParseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MailParseError'
  }
}

const PARSER_OPTIONS: SimpleParserOptions = {
  keepCidLinks: true, // html stays as sent; cid: images are served from the stored attachments
  ignoreEmbedded: true, // a forwarded message/rfc822 is an attachment, not text merged into ours
  keepDeliveryStatus: true, // a bounce's status fields are read below, not shown as text
  skipTextToHtml: true,
  skipTextLinks: true,
  checksumAlgo: 'sha256',
  // converting an enormous HTML body to text costs seconds of CPU; its text is then empty
  maxHtmlLengthToParse: 2_000_000
}

const KEPT_HEADERS = ['auto-submitted', 'precedence', 'list-id', 'x-autoreply', 'x-auto-response-suppress', 'x-failed-recipients', 'return-path', 'authentication-results']
// headers a mail has; random bytes have none of them
const CORE_HEADERS = ['from', 'sender', 'to', 'cc', 'subject', 'date', 'message-id', 'received', 'mime-version', 'content-type', 'return-path']
// the machine-readable parts of a report (RFC 3462, 3464, 6533, 8098): never an attachment
const REPORT_PARTS = new Set(['message/delivery-status', 'message/global-delivery-status', 'message/disposition-notification', 'message/global-disposition-notification', 'message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers'])
const DELIVERY_STATUS = new Set(['message/delivery-status', 'message/global-delivery-status'])
const RETURNED_MESSAGE = new Set(['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers'])
const MAX_SUBJECT = 998
const MAX_RECORDED_HEADER = 2000

/**
 * Parses one raw inbound mail into what intake needs: threading ids, addresses, text, the
 * attachments (capped and checked), the loop classification and, for a bounce, what it
 * reports. Pure: no database, network or config. Throws MailParseError only when the bytes
 * are not a mail at all; broken MIME (unterminated parts, bad charsets, no From) still parses.
 */
export async function parseMail(raw: Buffer, opts: ParseOptions): Promise<ParsedMail> {
  let mail: MailparserResult
  try {
    mail = await simpleParser(withoutMboxLine(raw), PARSER_OPTIONS)
  } catch (err) {
    throw new MailParseError('the message cannot be parsed', { cause: err })
  }
  const headers = rawHeaders(mail.headerLines)
  if (!CORE_HEADERS.some((name) => headers.has(name))) throw new MailParseError('the message has no mail headers')

  const { topType, reportType } = contentTypeOf(mail)
  const isReportPart = (a: Attachment) => topType === 'multipart/report' && a.partId !== null && !a.partId.includes('.') && REPORT_PARTS.has(bareContentType(a.contentType))

  const from = addresses(headers, 'from')[0] ?? null
  const returnPath = returnPathOf(headers)
  const messageId = msgIds(headers.get('message-id')?.[0] ?? '')[0] ?? null
  const subject = subjectOf(mail.subject, headers)
  const classification = classifyMail(
    {
      headers,
      fromAddress: from?.address ?? null,
      returnPath,
      messageId,
      subject,
      reportType,
      hasDeliveryStatusPart: mail.attachments.some((a) => isReportPart(a) && DELIVERY_STATUS.has(bareContentType(a.contentType)))
    },
    opts.ourDomains
  )
  // a bounce's returned message is what the report is about, not a file someone sent
  const reportParts = mail.attachments.filter((a) => isReportPart(a) || (classification.bounce && REPORT_PARTS.has(bareContentType(a.contentType))))
  const files = mail.attachments.filter((a) => !reportParts.includes(a))

  const html = typeof mail.html === 'string' ? stripNul(mail.html) : null
  let text = stripNul(mail.text ?? '')
  if (text.trim() === '' && html !== null) text = stripNul(await htmlAsText(html))
  const kept = files.slice(0, Math.max(0, opts.maxAttachments))

  return {
    messageId,
    inReplyTo: msgIds(headers.get('in-reply-to')?.join(' ') ?? '')[0] ?? null,
    references: [...new Set(msgIds([...(headers.get('references') ?? []), ...(headers.get('in-reply-to') ?? [])].join(' ')))],
    from,
    replyTo: addresses(headers, 'reply-to').find((a) => isUsableAddress(a.address)) ?? null,
    returnPath,
    to: addresses(headers, 'to'),
    cc: addresses(headers, 'cc'),
    subject,
    date: dateOf(headers),
    text,
    html,
    attachments: await Promise.all(kept.map((a) => toAttachment(a, html, opts.maxAttachmentBytes))),
    attachmentsOmitted: files.length - kept.length,
    classification,
    bounce: classification.bounce ? await bounceReport(reportParts, text, subject, headers, messageId) : null,
    spoofSuspect: spoofSuspect(headers),
    headers: recordedHeaders(headers)
  }
}

function contentTypeOf(mail: MailparserResult): { topType: string; reportType: string | null } {
  const header = mail.headers.get('content-type')
  if (!header || typeof header !== 'object' || Array.isArray(header) || !('params' in header)) return { topType: 'text/plain', reportType: null }
  const { value, params } = header as StructuredHeader
  const topType = bareContentType(value)
  return { topType, reportType: topType === 'multipart/report' ? (params['report-type']?.toLowerCase() ?? null) : null }
}

/**
 * Drops the mbox envelope line ("From sender date") some stored mails begin with. It is not
 * a header (no colon after the name); left in, a parser may read it as the first header line.
 */
function withoutMboxLine(raw: Buffer): Buffer {
  if (!raw.subarray(0, 5).equals(Buffer.from('From '))) return raw
  const eol = raw.indexOf(0x0a)
  return eol < 0 ? raw : raw.subarray(eol + 1)
}

/**
 * Header bytes as text. mailparser hands the raw lines over byte for byte (latin1); a header
 * written in raw 8-bit (not RFC 2047) is read as UTF-8 when it is valid UTF-8, else as
 * Windows-1252, the likeliest charset of an old client that sends raw 8-bit.
 */
function decodeHeaderBytes(binary: string): string {
  if (!/[\u0080-\u00ff]/.test(binary) || /[^\u0000-\u00ff]/.test(binary)) return binary
  const bytes = Buffer.from(binary, 'latin1')
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return new TextDecoder('windows-1252').decode(bytes)
  }
}

function rawHeaders(lines: HeaderLines): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const { key, line } of lines) {
    const colon = line.indexOf(':')
    if (colon < 0) continue
    const value = decodeHeaderBytes(line.slice(colon + 1)).replace(/\r?\n(?=[ \t])/g, '').trim()
    const name = key.trim().toLowerCase()
    map.set(name, [...(map.get(name) ?? []), value])
  }
  return map
}

// A UTF-16 or UTF-7 charset can decode to half a surrogate pair, which Postgres refuses in
// jsonb (a 500 at the webhook, a retry from the sender for ever): it becomes U+FFFD here.

/** Control characters (CR and LF included) become spaces: a value reused in a header cannot add one. */
function oneLine(value: string): string {
  return toWellFormedText(value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' '))
}

function stripNul(value: string): string {
  return toWellFormedText(value.replace(/\u0000/g, ''))
}

function subjectOf(decoded: string | undefined, headers: RawHeaders): string {
  let subject = decoded ?? ''
  // raw 8-bit that is not UTF-8 came out as U+FFFD; the Windows-1252 reading is likelier right
  const raw = headers.get('subject')?.[0]
  if (subject.includes('\ufffd') && raw !== undefined && !raw.includes('=?')) subject = raw
  return cutAt(oneLine(subject).trim(), MAX_SUBJECT)
}

function addresses(headers: RawHeaders, name: string): MailAddress[] {
  const values = headers.get(name)
  if (!values) return []
  // punycode kept as written: the ASCII form is the one every server accepts for a reply
  const parsed = parseAddressHeader([...values], { flatten: true, decodePunycode: false })
  return parsed.value
    .filter((a) => typeof a.address === 'string' && a.address.trim() !== '')
    .map((a) => ({ address: a.address!.trim(), name: oneLine(a.name ?? '').trim() || null }))
}

function isUsableAddress(address: string): boolean {
  const at = address.lastIndexOf('@')
  return at > 0 && at < address.length - 1 && !/[\s"<>]/.test(address.slice(at)) && address.slice(0, at).replace(/"/g, '') !== ''
}

function returnPathOf(headers: RawHeaders): string | null {
  const value = headers.get('return-path')?.[0]
  if (value === undefined) return null
  const bracketed = value.match(/<([^>]*)>/)
  return (bracketed ? bracketed[1]! : value).trim()
}

/**
 * Every `<msg-id>` in a header value, whitespace removed; a lone bare id is bracketed. Ids
 * with control characters (NUL above all, which Postgres refuses) or longer than 250
 * characters are no ids: they could not be ours, and they would not fit an index.
 */
function msgIds(value: string): string[] {
  const ids = [...value.matchAll(/<([^<>]*)>/g)]
    .map((m) => m[1]!.replace(/\s+/g, ''))
    // eslint-disable-next-line no-control-regex
    .filter((id) => id !== '' && id.length <= 250 && !/[\u0000-\u001f\u007f]/.test(id))
  if (ids.length > 0) return ids.map((id) => `<${id}>`)
  const bare = value.trim()
  // eslint-disable-next-line no-control-regex
  return /^[^\s<>]+@[^\s<>]+$/.test(bare) && bare.length <= 250 && !/[\u0000-\u001f\u007f]/.test(bare) ? [`<${bare}>`] : []
}

/** mailparser turns an unreadable Date into "now"; an unreadable date is no date. */
function dateOf(headers: RawHeaders): Date | null {
  const value = headers.get('date')?.[0]?.trim()
  if (!value) return null
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? null : date
}

/** Text of an HTML body with no text part, converted as mailparser converts a lone HTML part. */
async function htmlAsText(html: string): Promise<string> {
  const wrapped = Buffer.concat([Buffer.from('Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'), Buffer.from(html, 'utf8')])
  try {
    return (await simpleParser(wrapped, PARSER_OPTIONS)).text ?? ''
  } catch {
    return ''
  }
}

async function toAttachment(a: Attachment, html: string | null, maxBytes: number): Promise<MailAttachment> {
  const contentType = bareContentType(a.contentType)
  const filename = safeFilename(a.filename, contentType)
  const contentId = a.cid ? oneLine(a.cid).trim() || null : null
  const referenced = contentId !== null && html !== null && html.toLowerCase().includes(`cid:${contentId.toLowerCase()}`)
  return {
    filename,
    contentType,
    size: a.content.length,
    sha256: a.checksum,
    content: a.content,
    inline: (a.contentDisposition ?? '').toLowerCase() === 'inline' || referenced,
    contentId,
    refused: await attachmentRefusal({ filename, contentType, content: a.content }, maxBytes)
  }
}

/**
 * What a bounce reports: the Message-ID of the returned original (from its message/rfc822
 * or headers part, else from a "Message-ID:" line in the text, where Exim and Exchange
 * quote it), the failed recipients, and whether the failure is final.
 */
async function bounceReport(parts: Attachment[], text: string, subject: string, headers: RawHeaders, ownId: string | null): Promise<BounceReport> {
  const originals: string[] = []
  for (const part of parts.filter((p) => RETURNED_MESSAGE.has(bareContentType(p.contentType)))) {
    try {
      const returned = await simpleParser(part.content, { ...PARSER_OPTIONS, skipHtmlToText: true })
      originals.push(...msgIds(typeof returned.messageId === 'string' ? returned.messageId : ''))
    } catch {
      // a truncated original is common in bounces; the text may still quote its id
    }
  }
  if (originals.length === 0) {
    for (const m of text.matchAll(/^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)/gim)) originals.push(m[1]!)
  }
  const status = parts.filter((p) => DELIVERY_STATUS.has(bareContentType(p.contentType))).map((p) => p.content.toString('utf8')).join('\n')
  const failed = [
    ...(headers.get('x-failed-recipients') ?? []).flatMap((v) => v.split(',')),
    ...[...status.matchAll(/^Final-Recipient:[ \t]*(?:[^;\r\n]*;)?[ \t]*(\S+)/gim)].map((m) => m[1]!)
  ]
  const actions = [...(status || text).matchAll(/^Action:[ \t]*([a-z]+)/gim)].map((m) => m[1]!.toLowerCase())
  return {
    originalMessageIds: [...new Set(originals)].filter((id) => id !== ownId),
    failedRecipients: uniqueAddresses(failed),
    permanent: actions.includes('failed') || (!actions.includes('delayed') && !/delay|warning/i.test(subject))
  }
}

function uniqueAddresses(list: string[]): string[] {
  const seen = new Map<string, string>()
  for (const item of list) {
    const address = item.trim().replace(/^<|>$/g, '')
    if (address !== '' && !seen.has(address.toLowerCase())) seen.set(address.toLowerCase(), address)
  }
  return [...seen.values()]
}

/**
 * An SPF, DKIM or DMARC failure reported by a receiving server. Only a hint: the header can
 * be added by anyone on the way, so it is trusted as far as "treat with care" and no further.
 */
function spoofSuspect(headers: RawHeaders): string | null {
  const failures = (headers.get('authentication-results') ?? []).flatMap((v) => [...v.matchAll(/\b(spf|dkim|dmarc)\s*=\s*fail\b/gi)].map((m) => `${m[1]!.toLowerCase()}=fail`))
  return failures.length > 0 ? [...new Set(failures)].join(', ') : null
}

function recordedHeaders(headers: RawHeaders): Record<string, string> {
  const record: Record<string, string> = {}
  for (const name of KEPT_HEADERS) {
    const values = headers.get(name)
    if (values) record[name] = values.map((v) => cutAt(oneLine(v), MAX_RECORDED_HEADER)).join('\n')
  }
  return record
}
