/** Header values by lower-case name, unfolded, in the order they appear. */
export type RawHeaders = ReadonlyMap<string, readonly string[]>

export interface MailClassification {
  /** out-of-office, vacation, autoresponder (never a bounce) */
  autoReply: boolean
  /** delivery status notification, final or delayed */
  bounce: boolean
  /** list or bulk mail, and not itself an auto-reply or bounce */
  list: boolean
  /** every reason never to answer this mail automatically (empty = a person wrote it) */
  noAutoAnswer: string[]
}

/** What the rules look at, taken from the top-level message only. */
export interface MailFacts {
  headers: RawHeaders
  /** the From address as written, null when there is none */
  fromAddress: string | null
  /** '' for `<>`, null when absent */
  returnPath: string | null
  messageId: string | null
  subject: string
  /** the report-type parameter of a top-level multipart/report, lower case */
  reportType: string | null
  /** a message/delivery-status part sits directly in the report */
  hasDeliveryStatusPart: boolean
}

// local parts that belong to machines: mail sent from them is never a person asking something
const DAEMON_LOCAL_PART = /^(mailer-daemon|mail-daemon|postmaster)$/i
const NOREPLY_LOCAL_PART = /^(no[-_.]?reply|do[-_.]?not[-_.]?reply)/i
// what MTAs call a failure report when they send one without a machine-readable part
const FAILURE_SUBJECT = /undeliver|returned mail|delivery (status notification|failure|failed|has failed|incomplete)|mail delivery failed|failure notice|non[- ]?delivery/i
// Exchange, Outlook, iCloud and Gmail put these in front of the subject of an out-of-office;
// only as a prefix with its colon, so a resident writing about "out of office hours" is a person
const AUTO_REPLY_SUBJECT = /^(automatic reply|auto[- ]?reply|autoreply|out of (the )?office( reply| autoreply)?|automatische antwort|abwesenheitsnotiz|réponse automatique|respuesta automática|risposta automatica|automatisch antwoord|autosvar)\s*:/i
const LIST_HEADERS = ['list-id', 'list-unsubscribe', 'list-post', 'list-help', 'list-subscribe', 'list-archive', 'list-owner', 'mailing-list']

function first(headers: RawHeaders, name: string): string | null {
  return headers.get(name)?.[0] ?? null
}

/** A header value fit to quote in a reason: one short line, no comments. */
function shown(value: string): string {
  return value.replace(/\([^)]*\)/g, '').replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 60)
}

function localPart(address: string | null): string | null {
  if (!address) return null
  const at = address.lastIndexOf('@')
  return (at < 0 ? address : address.slice(0, at)).toLowerCase()
}

/** The message's own domain in its Message-ID, lower case. */
function messageIdDomain(messageId: string | null): string | null {
  const match = messageId?.match(/@([^>]+)>?$/)
  return match ? match[1]!.trim().toLowerCase() : null
}

function bounceReason(f: MailFacts): string | null {
  if (f.reportType === 'delivery-status' || f.hasDeliveryStatusPart) return 'delivery status notification'
  if (f.headers.has('x-failed-recipients')) return 'X-Failed-Recipients header'
  if (f.headers.has('x-ms-exchange-message-is-ndr')) return 'X-MS-Exchange-Message-Is-Ndr header'
  const daemon = [f.fromAddress, f.returnPath].some((a) => DAEMON_LOCAL_PART.test(localPart(a) ?? ''))
  if (daemon && FAILURE_SUBJECT.test(f.subject)) return 'failure report from a mail server'
  return null
}

function autoReplyReasons(f: MailFacts): string[] {
  const reasons: string[] = []
  const autoSubmitted = first(f.headers, 'auto-submitted')
  if (autoSubmitted !== null && shown(autoSubmitted).toLowerCase() !== 'no' && shown(autoSubmitted) !== '') {
    reasons.push(`Auto-Submitted: ${shown(autoSubmitted)}`)
  }
  for (const name of ['X-Autoreply', 'X-Autorespond', 'X-Autoresponder']) {
    const value = first(f.headers, name.toLowerCase())
    if (value !== null && !/^(no|false|0)?$/i.test(shown(value))) reasons.push(`${name}: ${shown(value)}`)
  }
  const precedence = first(f.headers, 'precedence')
  if (precedence !== null && /^auto[_-]reply$/i.test(shown(precedence))) reasons.push(`Precedence: ${shown(precedence)}`)
  if (/^vacation$/i.test(first(f.headers, 'x-apple-action')?.trim() ?? '')) reasons.push('X-Apple-Action: vacation')
  if (f.headers.has('x-ms-exchange-inbox-rules-loop') && f.headers.has('x-auto-response-suppress')) reasons.push('Exchange inbox rule reply')
  if (AUTO_REPLY_SUBJECT.test(f.subject)) reasons.push('subject of an automatic reply')
  return reasons
}

/** Reasons shared by every kind of mail: bulk, lists, senders that cannot take an answer. */
function otherReasons(f: MailFacts, ourDomains: readonly string[]): { list: boolean; reasons: string[] } {
  const reasons: string[] = []
  let list = false
  const precedence = first(f.headers, 'precedence')
  if (precedence !== null && /^(bulk|list|junk)$/i.test(shown(precedence))) {
    reasons.push(`Precedence: ${shown(precedence).toLowerCase()}`)
    list = !/^junk$/i.test(shown(precedence))
  }
  for (const name of LIST_HEADERS) {
    if (!f.headers.has(name)) continue
    reasons.push(`${name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase())} header`)
    list = true
  }
  const suppress = first(f.headers, 'x-auto-response-suppress')
  if (suppress !== null && /\b(all|oof|autoreply)\b/i.test(suppress)) reasons.push(`X-Auto-Response-Suppress: ${shown(suppress)}`)
  if (f.returnPath === '') reasons.push('empty Return-Path')
  if (f.fromAddress === null) reasons.push('no From address')
  for (const address of [f.fromAddress, f.returnPath, first(f.headers, 'sender')]) {
    const local = localPart(address?.replace(/^.*<|>.*$/g, '') ?? null)
    if (local !== null && (DAEMON_LOCAL_PART.test(local) || NOREPLY_LOCAL_PART.test(local))) reasons.push(`sender ${local}`)
  }
  const domain = messageIdDomain(f.messageId)
  if (domain !== null && ourDomains.includes(domain)) reasons.push('our own Message-ID')
  return { list, reasons }
}

/**
 * The loop rules of docs/channels.md: whether a mail is a bounce, an automatic reply or
 * list mail, and every reason never to answer it automatically. A bounce is never also an
 * auto-reply, and neither is list mail even when it says Precedence: bulk: each mail has at
 * most one kind, so a case is reopened or linked for one reason only.
 */
export function classifyMail(f: MailFacts, ourDomains: readonly string[]): MailClassification {
  const bounce = bounceReason(f)
  // a bounce usually says Auto-Submitted too: a reason not to answer, not a second kind
  const autoReply = autoReplyReasons(f)
  const other = otherReasons(f, ourDomains)
  const reasons = [...(bounce === null ? [] : [bounce]), ...autoReply, ...other.reasons]
  return {
    bounce: bounce !== null,
    autoReply: bounce === null && autoReply.length > 0,
    list: other.list && bounce === null && autoReply.length === 0,
    noAutoAnswer: [...new Set(reasons)]
  }
}
