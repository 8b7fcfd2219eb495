import { isIPv4 } from 'node:net'
import type { Config } from '../config.js'
import { ConfigError } from '../config.js'
import type { Queryable } from '../db/pool.js'

/**
 * Why a webhook URL may not be sent to, or null when it may. The hook carries the
 * resident's name and contact details, so it goes over https; plain http is allowed only
 * to this machine (127.0.0.0/8, ::1, localhost), for local receivers and tests, and never
 * in production.
 */
export function webhookUrlRefusal(url: string, opts: { production: boolean }): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'webhook_url is not a valid URL; it must be an https:// URL'
  }
  if (parsed.protocol === 'https:') return null
  if (parsed.protocol !== 'http:') return `webhook_url must be https (it is ${parsed.protocol}//)`
  if (opts.production) return 'webhook_url must be https in production (it is plain http)'
  if (!isLoopbackHost(parsed.hostname)) return 'webhook_url must be https (plain http is allowed only to a loopback host outside production)'
  return null
}

/** The WHATWG parser has already normalised the host: IPv4 to dotted quads, IPv6 in brackets, names lower-cased. */
function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true
  return isIPv4(hostname) && hostname.startsWith('127.')
}

/**
 * Refuses to start when a destination in use could not be delivered to honestly: in
 * production an email destination with no SMTP_URL (the demo transport would keep every
 * mail), and anywhere a webhook whose URL the policy refuses. Throws ConfigError, whose
 * message is the one line the operator reads. Needs the migrated database, so it runs at
 * start after migrations and demo data.
 */
export async function assertDestinationsUsable(db: Queryable, config: Pick<Config, 'NODE_ENV' | 'SMTP_URL'>): Promise<void> {
  const production = config.NODE_ENV === 'production'
  const { rows } = await db.query<{ id: number; council_gss: string; team: string; kind: 'webhook' | 'email'; webhook_url: string | null }>(
    `select id, council_gss, team, kind, webhook_url from destinations where active order by id`
  )
  const emails = rows.filter((d) => d.kind === 'email')
  if (production && !config.SMTP_URL && emails.length > 0) {
    throw new ConfigError(
      `SMTP_URL is required in production: ${emails.length} active email destination(s) (first: id ${emails[0]!.id}, council ${emails[0]!.council_gss}) ` +
        'would be kept by the demo mail transport, not sent; set SMTP_URL=smtp://user:pass@host:587'
    )
  }
  for (const d of rows) {
    if (d.kind !== 'webhook') continue
    // the URL itself is not printed: it may carry a token
    const refusal = webhookUrlRefusal(d.webhook_url ?? '', { production })
    if (refusal) throw new ConfigError(`destination ${d.id} (council ${d.council_gss}, team "${d.team}"): ${refusal}; fix or deactivate it`)
  }
}
