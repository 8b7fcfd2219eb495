import { isIPv4 } from 'node:net'
import type { Config } from '../config.js'
import { ConfigError } from '../config.js'
import type { Queryable } from '../db/pool.js'
import { ipLiteral, type AddressPolicy } from '../lib/public-address.js'
import type { AttemptResult } from './outcome.js'
import { outboundClient, REFUSED_NOT_PUBLIC } from './safe-fetch.js'

/** What a webhook URL is checked against: the https rule, and the addresses that may be reached. */
export interface TargetPolicy {
  production: boolean
  addresses: AddressPolicy
}

/** The policy the configuration sets, with the process's shared outbound client's addresses. */
export function targetPolicy(config: Pick<Config, 'NODE_ENV' | 'WEBHOOK_ALLOW_PRIVATE_CIDRS'>): TargetPolicy {
  return { production: config.NODE_ENV === 'production', addresses: outboundClient(config.WEBHOOK_ALLOW_PRIVATE_CIDRS).policy }
}

const NOT_PUBLIC = 'webhook_url points at an address that is not public (private, loopback, link-local or reserved)'

/**
 * Why a webhook URL may not be sent to, or null when it may. The hook carries the
 * resident's name and contact details, so it goes over https; plain http is allowed only
 * to this machine (127.0.0.0/8, ::1, localhost), for local receivers and tests, and never
 * in production. A host given as an address must be public or allowed by the operator
 * (WEBHOOK_ALLOW_PRIVATE_CIDRS); a name is checked when it is resolved, at each connection
 * (src/delivery/safe-fetch.ts), except localhost, which is always this machine. The URL
 * may not carry a user name or password: they would end up wherever URLs are shown.
 */
export function webhookUrlRefusal(url: string, policy: TargetPolicy): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'webhook_url is not a valid URL; it must be an https:// URL'
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `webhook_url must be https (it is ${parsed.protocol}//)`
  if (parsed.username || parsed.password) return 'webhook_url must not carry a user name or password; the signing secret proves the sender'
  if (parsed.protocol === 'http:') {
    if (policy.production) return 'webhook_url must be https in production (it is plain http)'
    if (!isLoopbackHost(parsed.hostname)) return 'webhook_url must be https (plain http is allowed only to a loopback host outside production)'
  }
  // the WHATWG parser has normalised the host: 2130706433 and 0x7f.1 are 127.0.0.1 by now
  const address = ipLiteral(parsed.hostname) ?? (isLocalhostName(parsed.hostname) ? '127.0.0.1' : null)
  if (address !== null && !policy.addresses.allows(address)) return NOT_PUBLIC
  return null
}

/**
 * The check before each send, as the attempt's result (null: send). Catches a URL stored
 * before a stricter policy (production, the allow-list); an address refused here reads as
 * one refused at connect time.
 */
export function refusedAttempt(url: string, policy: TargetPolicy): AttemptResult | null {
  const refusal = webhookUrlRefusal(url, policy)
  if (!refusal) return null
  return { ok: false, permanent: true, status: null, detail: refusal === NOT_PUBLIC ? REFUSED_NOT_PUBLIC : `not sent: ${refusal}` }
}

/** The WHATWG parser has already normalised the host: IPv4 to dotted quads, IPv6 in brackets, names lower-cased. */
function isLoopbackHost(hostname: string): boolean {
  if (isLocalhostName(hostname) || hostname === '[::1]') return true
  return isIPv4(hostname) && hostname.startsWith('127.')
}

/** localhost and its subdomains are this machine, whatever DNS says (RFC 6761). */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.replace(/\.$/, '')
  return name === 'localhost' || name.endsWith('.localhost')
}

/**
 * Refuses to start when a destination in use could not be delivered to honestly: in
 * production an email destination with no SMTP_URL (the demo transport would keep every
 * mail), and anywhere a webhook whose URL the policy refuses. Throws ConfigError, whose
 * message is the one line the operator reads. Needs the migrated database, so it runs at
 * start after migrations and demo data.
 */
export async function assertDestinationsUsable(db: Queryable, config: Pick<Config, 'NODE_ENV' | 'SMTP_URL' | 'WEBHOOK_ALLOW_PRIVATE_CIDRS'>): Promise<void> {
  const production = config.NODE_ENV === 'production'
  const policy = targetPolicy(config)
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
    const refusal = webhookUrlRefusal(d.webhook_url ?? '', policy)
    const allow = refusal?.includes('not public') ? ', or allow its range with WEBHOOK_ALLOW_PRIVATE_CIDRS' : ''
    if (refusal) throw new ConfigError(`destination ${d.id} (council ${d.council_gss}, team "${d.team}"): ${refusal}; fix or deactivate it${allow}`)
  }
}
