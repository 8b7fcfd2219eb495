import { promises as dns } from 'node:dns'
import type { DnsResolver } from './sender-auth.js'

const LOOKUP_TIMEOUT_MS = 2_000
const CACHE_MS = 60_000
const CACHE_ENTRIES = 2_000
// "no such name" and "no such record" are answers, worth keeping; a timeout or SERVFAIL is not
const NEGATIVE = new Set(['ENOTFOUND', 'ENODATA'])

/**
 * The system's DNS (the nameservers of /etc/resolv.conf) for SPF, DKIM and DMARC, each
 * lookup bounded to 2 s. Answers are kept a minute: node:dns has no cache of its own, and a
 * burst of mail from one provider would otherwise ask for the same few records once per
 * message. A small map by hand, as node:dns's resolve() gives no TTLs for a library's cache
 * to follow; lookups of the same record at once share one query.
 */
export function systemResolver(): DnsResolver {
  const resolver = new dns.Resolver({ timeout: LOOKUP_TIMEOUT_MS, tries: 2 })
  const cache = new Map<string, { until: number; answer: Promise<unknown> }>()
  const lookup = (name: string, rrtype: string): Promise<unknown> => {
    const key = `${rrtype} ${name.toLowerCase()}`
    const now = Date.now()
    const hit = cache.get(key)
    if (hit && hit.until > now) return hit.answer
    if (hit) cache.delete(key)
    const answer = resolver.resolve(name, rrtype)
    cache.set(key, { until: now + CACHE_MS, answer })
    answer.catch((err: NodeJS.ErrnoException) => {
      if (!NEGATIVE.has(err.code ?? '')) cache.delete(key)
    })
    // the oldest entries go first: a Map keeps insertion order
    while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!)
    return answer
  }
  return lookup as DnsResolver
}
