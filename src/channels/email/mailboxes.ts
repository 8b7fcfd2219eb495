import type { Queryable } from '../../db/pool.js'
import type { Catalogue } from '../../catalogue/catalogue.js'

/** A recipient we take mail for: a council or partnership mailbox, or a case's reply address. */
export type OurRecipient = { kind: 'mailbox'; address: string } | { kind: 'reply'; address: string; token: string }

// reply+<token>@EMAIL_DOMAIN; tokens are ours (base64url of random bytes), so a strict shape
const REPLY_LOCAL = /^reply\+([A-Za-z0-9_-]{16,64})$/

/**
 * Tells our addresses from everyone else's: the mailboxes in inbound_addresses (through the
 * catalogue, reloaded every 30 s) and reply+<token>@EMAIL_DOMAIN. Addresses compare in
 * lower case; a reply token is matched as written (it is case-sensitive).
 */
export class Mailboxes {
  constructor(
    private readonly catalogue: Catalogue,
    private readonly emailDomain: string
  ) {}

  recognise(address: string): OurRecipient | null {
    const at = address.lastIndexOf('@')
    if (at <= 0) return null
    const local = address.slice(0, at)
    const domain = address.slice(at + 1).toLowerCase()
    const lower = `${local.toLowerCase()}@${domain}`
    if (this.catalogue.inboundAddress('email', lower)) return { kind: 'mailbox', address: lower }
    if (domain === this.emailDomain.toLowerCase()) {
      const m = REPLY_LOCAL.exec(local)
      if (m) return { kind: 'reply', address: `${local}@${domain}`, token: m[1]! }
    }
    return null
  }

  /** Whether a reply token belongs to a case (an unknown one is refused at RCPT, 550). */
  async replyTokenKnown(db: Queryable, token: string): Promise<boolean> {
    const { rows } = await db.query({ name: 'email-reply-token', text: 'select 1 from cases where reply_token = $1', values: [token] })
    return rows.length > 0
  }
}
