import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import type { LookupFunction } from 'node:net'
import { Agent, buildConnector, fetch, type RequestInit, type Response } from 'undici'
import { AddressPolicy, ipLiteral } from '../lib/public-address.js'

/** A connection Switchboard would not make: the address is neither public nor allowed by the operator. */
export class AddressRefusedError extends Error {
  readonly code = 'ERR_ADDRESS_NOT_PUBLIC'
  constructor(readonly address: string) {
    super(`refused to connect to ${address}: not a public address, nor in WEBHOOK_ALLOW_PRIVATE_CIDRS`)
    this.name = 'AddressRefusedError'
  }
}

/** Resolves a name to every address it has (dns.lookup with `all`); injectable for tests. */
export type Resolve = (hostname: string, options: { all: true; family?: number | 'IPv4' | 'IPv6'; hints?: number }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

const systemResolve: Resolve = (hostname, options, callback) => dnsLookup(hostname, options, callback)

/**
 * What council systems are reached through: an undici Agent whose every new connection is
 * checked against the address policy after the name is resolved, at connect time, so a
 * name that resolves to this machine or a private network (or later starts to) is never
 * connected to. Node calls `lookup` only for names, so an IP literal is checked before.
 */
export interface OutboundClient {
  policy: AddressPolicy
  fetch(url: string, init: Omit<RequestInit, 'dispatcher'>): Promise<Response>
}

export function createOutboundClient(policy: AddressPolicy, opts: { resolve?: Resolve } = {}): OutboundClient {
  const resolve = opts.resolve ?? systemResolve
  const lookup: LookupFunction = (hostname, options, callback) => {
    resolve(hostname, { family: options.family, hints: options.hints, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0)
      if (!addresses.length) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0)
      // every address, not just the first: a name with one public and one private answer is refused
      const refused = addresses.find((a) => !policy.allows(a.address))
      if (refused) return callback(new AddressRefusedError(refused.address), '', 0)
      if (options.all) return callback(null, addresses)
      callback(null, addresses[0]!.address, addresses[0]!.family)
    })
  }
  const connectVia = buildConnector({ lookup })
  const dispatcher = new Agent({
    connect: (options, callback) => {
      const literal = ipLiteral(options.hostname)
      if (literal !== null && !policy.allows(literal)) return callback(new AddressRefusedError(literal), null)
      connectVia(options, callback)
    }
  })
  return { policy, fetch: (url, init) => fetch(url, { ...init, dispatcher }) }
}

const shared = new Map<string, OutboundClient>()

/** The process's one client for an allow-list, so connections to a council system are reused. */
export function outboundClient(allowPrivate: string): OutboundClient {
  let client = shared.get(allowPrivate)
  if (!client) {
    client = createOutboundClient(new AddressPolicy(allowPrivate))
    shared.set(allowPrivate, client)
  }
  return client
}

/** Why an attempt failed, as the council may read it, whether it may get better, and for operators' logs the raw cause. */
export interface FailureDescription {
  reason: string
  permanent: boolean
  cause: string
}

export const REFUSED_NOT_PUBLIC = 'refused: the address is not public'

/**
 * The short reason a network error comes to. Raw socket errors name addresses, ports and
 * what answered there: shown to a council, they make a port scanner of us. These few
 * words say what the council can act on and no more.
 */
export function reasonForCode(code: string): string {
  if (code === 'ERR_ADDRESS_NOT_PUBLIC') return REFUSED_NOT_PUBLIC
  if (code === 'TimeoutError' || code === 'AbortError' || /TIMEOUT|ETIMEDOUT/.test(code)) return 'timed out'
  if (code === 'ECONNREFUSED') return 'connection refused'
  if (code === 'ENOTFOUND' || code.startsWith('EAI_')) return 'the name could not be resolved'
  if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(code)) return 'connection reset'
  if (['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN'].includes(code)) return 'network unreachable'
  if (/CERT|SSL|TLS|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO/.test(code)) return 'TLS failed: the certificate was not accepted'
  return 'request failed'
}

/** The first code (or error name) along an error's cause chain that says what happened. */
function codeOf(err: unknown): { code: string; message: string } {
  for (let e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown[] } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string') return { code: e.code, message: String(e.message) }
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { code: e.name, message: String(e.message) }
    // several addresses tried (happy eyeballs): the first one's error says enough
    e = (e.cause ?? e.errors?.[0]) as typeof e
  }
  const message = err instanceof Error ? err.message : String(err)
  return { code: 'unknown', message }
}

const REASONS = new Set([REFUSED_NOT_PUBLIC, 'timed out', 'connection refused', 'the name could not be resolved', 'connection reset', 'network unreachable', 'TLS failed: the certificate was not accepted', 'request failed'])

/**
 * A stored reason as a council may read it: our own words as they are, and anything else
 * (a raw error recorded before these words, `request failed: ECONNREFUSED`) in them.
 */
export function publicReason(detail: string | null): string | null {
  if (detail === null || REASONS.has(detail) || /^HTTP \d{3}$/.test(detail) || detail.startsWith('not sent: ')) return detail
  if (detail.startsWith('request failed: no answer within')) return 'timed out'
  return reasonForCode(/^request failed: (\S+)$/.exec(detail)?.[1] ?? '')
}

export function describeFailure(err: unknown): FailureDescription {
  const { code, message } = codeOf(err)
  return { reason: reasonForCode(code), permanent: code === 'ERR_ADDRESS_NOT_PUBLIC', cause: `${code}: ${message}` }
}
