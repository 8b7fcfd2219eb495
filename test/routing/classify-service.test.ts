import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Service } from '../../src/catalogue/catalogue.js'
import { classifyService } from '../../src/routing/classify-service.js'

const seeds = JSON.parse(readFileSync(new URL('../../seeds/reference.json', import.meta.url), 'utf8')) as {
  services: { code: string; name: string; tier: Service['tier']; keywords: string[]; needs_location: boolean; public?: boolean; lgsl?: number }[]
}
const services: Service[] = seeds.services.map((s) => ({ code: s.code, name: s.name, tier: s.tier, keywords: s.keywords, needsLocation: s.needs_location, public: s.public === true, lgsl: s.lgsl ?? null }))

const classify = (text: string) => classifyService(text, services)

describe('choosing a service from the resident’s own words', () => {
  it.each([
    ['There is a huge POTHOLE on Station Road!', 'pothole'],
    ['My wheelie bin was not collected', 'missed_bin'],
    ['Someone has dumped a mattress in the alley', 'bulky_waste'],
    ['The street light outside 14 is out', 'street_light'],
    ['Loud music every night from next door', 'noise'],
    ['Can I get single person discount on council tax?', 'council_tax'],
    ['I need help applying for council tax support', 'housing_benefit'],
    ['Damp and mould in my flat', 'housing_repair']
  ])('%s → %s', (text, code) => {
    expect(classify(text)?.service.code).toBe(code)
  })

  it('names the words it matched, so the reason can be read', () => {
    expect(classify('The bin collection was missed')?.matched).toEqual(['bin', 'collection'])
  })

  it('matches whole words only', () => {
    // "cabinet" contains "bin", "gritty" contains "grit": neither is a keyword match
    expect(classify('The cabinet meeting was gritty')).toBeNull()
  })

  it('returns nothing when no keyword matches', () => {
    expect(classify('Where can I register a birth?')).toBeNull()
  })
})
