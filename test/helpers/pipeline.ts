import { randomBytes } from 'node:crypto'
import type { InboundContact } from '../../src/intake/inbound-contact.js'
import type { TestContext } from './context.js'
import { BRENT, HINCKLEY, WESTMINSTER } from './councils.js'

/** Three places that route without doubt, each to a different council. */
export const PLACES = [
  { postcode: 'LE10 0FR', service_code: 'missed_bin', council: HINCKLEY },
  { postcode: 'SW1A 1AA', service_code: 'council_tax', council: WESTMINSTER },
  { postcode: 'HA9 0FJ', service_code: 'missed_bin', council: BRENT }
] as const

export const uid = () => randomBytes(4).toString('hex')

/** The i-th routable web contact (PLACES in turn), from a resident of its own. */
export function contactBody(i: number, extra: Record<string, unknown> = {}) {
  const place = PLACES[i % PLACES.length]!
  return { name: `Resident ${i}`, email: `resident.${uid()}@example.com`, postcode: place.postcode, service_code: place.service_code, ...extra }
}

/** Row counts of `tables` in the test file's database. */
export async function tableCounts(ctx: TestContext, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const t of tables) out[t] = (await ctx.query<{ n: number }>(`select count(*)::int as n from ${t}`))[0]!.n
  return out
}

/** A contact as a channel adapter hands it to intake: a web contact unless told otherwise. */
export function inbound(over: Partial<InboundContact>): InboundContact {
  return {
    channel: 'web',
    provider: 'web',
    providerMessageId: `auto:${Math.random().toString(36).slice(2)}`,
    rawPayload: {},
    payloadHash: null,
    sender: { name: null, email: null, phone: null, raw: null },
    recipient: null,
    text: '',
    location: { postcode: null, lat: null, lng: null },
    serviceCode: null,
    councilGss: null,
    threadReference: null,
    ...over
  }
}
