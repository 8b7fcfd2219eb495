import type { Queryable } from '../../db/pool.js'

/** The case a mail proves it belongs to, and the address our mail on that thread went to. */
export interface ProvenThread {
  caseId: number
  how: 'message_id' | 'reply_token'
  /** where our mail went: a reply from this address proves it is the resident's */
  sentTo: string | null
  /** our outbound message it answers (for a bounce, the one that failed) */
  messageId: number | null
}

/**
 * Our own Message-IDs quoted in In-Reply-To or References: the newest of our mails they
 * name. Only ids of our domain are looked up, so a resident's own thread costs nothing.
 */
export async function threadByMessageId(db: Queryable, ids: readonly string[], emailDomain: string): Promise<ProvenThread | null> {
  const suffix = `@${emailDomain.toLowerCase()}>`
  const ours = ids.filter((id) => id.toLowerCase().endsWith(suffix)).slice(0, 50)
  if (!ours.length) return null
  const { rows } = await db.query<{ id: number; case_id: number; recipient: string | null }>({
    name: 'email-thread-by-message-id',
    text: `select id, case_id, recipient from messages
            where provider = 'smtp' and direction = 'outbound' and provider_message_id = any($1::text[])
            order by id desc limit 1`,
    values: [ours]
  })
  const row = rows[0]
  return row ? { caseId: row.case_id, how: 'message_id', sentTo: row.recipient, messageId: row.id } : null
}

/** A reply to a case's own address (reply+<token>@…). */
export async function threadByReplyToken(db: Queryable, token: string): Promise<ProvenThread | null> {
  const { rows } = await db.query<{ id: number; reported_email: string | null }>({
    name: 'email-thread-by-token',
    text: 'select id, reported_email from cases where reply_token = $1',
    values: [token]
  })
  const row = rows[0]
  return row ? { caseId: row.id, how: 'reply_token', sentTo: row.reported_email, messageId: null } : null
}

const REFERENCE_IN_TEXT = /\bSB-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b/i

/** A case reference quoted in a subject ("[Ref: SB-…]" or bare), upper-cased. */
export function referenceInSubject(subject: string): string | null {
  return REFERENCE_IN_TEXT.exec(subject)?.[0].toUpperCase() ?? null
}

/**
 * Whether a subject's reference names a case this sender may not join: the case exists and
 * was reported by someone else. The mail then opens a case of its own, flagged for a person.
 */
export async function referenceOfAnotherSender(db: Queryable, reference: string, senderEmail: string): Promise<boolean> {
  const { rows } = await db.query<{ other: boolean }>({
    name: 'email-reference-sender',
    text: `select c.reported_email is distinct from $2 as other from cases c where c.reference = $1`,
    values: [reference, senderEmail]
  })
  return rows[0]?.other === true
}
