import type { Service } from '../catalogue/catalogue.js'

export interface Classification {
  service: Service
  /** the keywords found in the text, for the reason a supervisor reads */
  matched: string[]
}

/**
 * Picks a service from the resident's own words by the catalogue's keyword rules: each
 * keyword or phrase found as whole words scores one; the most matches wins, then the
 * longest matched phrase ("council tax support" beats "council tax"), then catalogue order.
 * Deliberately simple so every decision can be explained in one sentence.
 */
export function classifyService(text: string, services: Iterable<Service>): Classification | null {
  const haystack = ` ${text.toLowerCase().replace(/[^\p{L}\p{N}-]+/gu, ' ')} `
  let best: (Classification & { longest: number }) | null = null
  for (const service of services) {
    const matched = service.keywords.filter((k) => haystack.includes(` ${k.toLowerCase()} `))
    if (!matched.length) continue
    const longest = Math.max(...matched.map((m) => m.length))
    if (!best || matched.length > best.matched.length || (matched.length === best.matched.length && longest > best.longest)) {
      best = { service, matched, longest }
    }
  }
  return best ? { service: best.service, matched: best.matched } : null
}
