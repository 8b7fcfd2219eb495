import type { Config } from '../../config.js'
import { ConfigError } from '../../config.js'
import type { Queryable } from '../../db/pool.js'

/**
 * Refuses to start in production when texts or calls can come in (numbers are configured)
 * but no TWILIO_AUTH_TOKEN is set to verify them: every one would be refused. Outside
 * production the routes refuse them (403) with a warning, so the demo still runs.
 */
export async function assertTwilioUsable(db: Queryable, config: Pick<Config, 'NODE_ENV' | 'TWILIO_AUTH_TOKEN'>): Promise<void> {
  if (config.NODE_ENV !== 'production' || config.TWILIO_AUTH_TOKEN) return
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from inbound_addresses where channel in ('sms', 'voice')`)
  const n = rows[0]?.n ?? 0
  if (n > 0) {
    throw new ConfigError(
      `TWILIO_AUTH_TOKEN is required in production: ${n} SMS or voice number(s) are configured and their webhooks cannot be verified without it; set it to the Auth Token of the Twilio account that owns them`
    )
  }
}
