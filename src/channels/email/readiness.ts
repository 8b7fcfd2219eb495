import type { Config } from '../../config.js'
import { ConfigError } from '../../config.js'
import type { Queryable } from '../../db/pool.js'

/**
 * Refuses to start in production when mail can come in (mailboxes are configured) but our
 * own mail domain is still the placeholder: acknowledgements would carry reply addresses
 * and Message-IDs nobody can answer to, so every reply would open a new case.
 */
export async function assertEmailUsable(db: Queryable, config: Pick<Config, 'NODE_ENV' | 'EMAIL_DOMAIN'>): Promise<void> {
  if (config.NODE_ENV !== 'production' || !config.EMAIL_DOMAIN.toLowerCase().endsWith('.localhost')) return
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from inbound_addresses where channel = 'email'`)
  const n = rows[0]?.n ?? 0
  if (n > 0) {
    throw new ConfigError(
      `EMAIL_DOMAIN is required in production: ${n} mailbox(es) are configured and replies to our mail must reach this service; set it to a domain whose MX points at the SMTP listener, e.g. replies.contact.example.gov.uk`
    )
  }
}
