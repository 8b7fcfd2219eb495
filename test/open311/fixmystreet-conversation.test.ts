import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { XMLParser } from 'fast-xml-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKey } from '../../src/councils/api-keys.js'
import { createTestContext, waitFor, waitPlaced, type TestContext } from '../helpers/context.js'
import { HINCKLEY } from '../helpers/councils.js'

// A conversation as FixMyStreet holds it with a council's endpoint, replayed request by
// request (test/fixtures/fixmystreet/conversation.json), each answer read the way
// FixMyStreet's perllib/Open311.pm reads it: XML::Simple with ForceArray on the list
// elements, GroupTags folding <attributes><attribute>, the root element dropped, empty
// elements undef, booleans compared as the words 'true' and 'false'.

interface Exchange {
  name: string
  method: 'GET' | 'POST'
  url: string
  contentType?: string
  body?: string
}
const recorded = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/fixmystreet/conversation.json'), 'utf8')) as { exchanges: Exchange[] }
const exchange = (name: string) => recorded.exchanges.find((e) => e.name === name)!

const GROUP_TAGS: Record<string, string> = {
  services: 'service',
  attributes: 'attribute',
  values: 'value',
  service_requests: 'request',
  errors: 'error',
  service_request_updates: 'request_update',
  groups: 'group'
}
const FORCE_ARRAY = new Set(Object.values(GROUP_TAGS))
const parser = new XMLParser({ parseTagValue: false, ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => FORCE_ARRAY.has(name) })

type Perl = any

/** An answer as XML::Simple hands it to FixMyStreet (and no XML attributes, which it would turn into keys). */
function asFixMyStreet(res: { statusCode: number; body: string }): Perl {
  // any 2xx is success to FixMyStreet; anything else is a failed send, retried later
  expect(res.statusCode, res.body).toBeGreaterThanOrEqual(200)
  expect(res.statusCode).toBeLessThan(300)
  const doc = parser.parse(res.body, true) as Record<string, unknown>
  const roots = Object.keys(doc).filter((k) => k !== '?xml')
  expect(roots).toHaveLength(1)
  return simplify(doc[roots[0]!])
}

function simplify(v: unknown): Perl {
  if (Array.isArray(v)) return v.map(simplify)
  if (v === '') return undefined
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, child] of Object.entries(v)) {
      expect(k.startsWith('@'), `XML attribute ${k}`).toBe(false)
      const group = GROUP_TAGS[k]
      out[k] = group && child && typeof child === 'object' && !Array.isArray(child) && group in child ? simplify((child as Record<string, unknown>)[group]) : simplify(child)
    }
    return out
  }
  return v
}

/** What FixMyStreet accepts as an id: a defined, true (in Perl: not '' nor '0') plain string. */
function expectPerlId(id: unknown): string {
  expect(typeof id).toBe('string')
  expect(id).not.toBe('0')
  expect((id as string).length).toBeGreaterThan(0)
  return id as string
}

// DateTime::Format::W3CDTF, which FixMyStreet parses updated_datetime with
const W3CDTF = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/
const w3c = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')

let ctx: TestContext
const fill: Record<string, string> = {}
beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  fill.fms_key = (await createApiKey(ctx.infra.db, { council: HINCKLEY }, ['open311'])).key
})
afterAll(async () => {
  await ctx.close()
})

/** Sends a recorded request with its placeholders filled. */
function send(name: string, extra: Record<string, string> = {}) {
  const e = exchange(name)
  const now = new Date()
  const values: Record<string, string> = {
    ...fill,
    now: w3c(now),
    two_hours_ago: w3c(new Date(now.getTime() - 2 * 3600_000)),
    now_offset: w3c(now).replace(/Z$/, '+00:00'),
    ...extra
  }
  const filled = (text: string, encode: boolean) =>
    text.replace(/\{\{([a-z_:]+)\}\}/g, (_m, key: string) => {
      const value = values[key]
      if (value === undefined) throw new Error(`no value for {{${key}}}`)
      return encode ? encodeURIComponent(value) : value
    })
  return ctx.app.inject({
    method: e.method,
    url: filled(e.url, true),
    ...(e.body !== undefined ? { headers: { 'content-type': e.contentType! }, payload: filled(e.body, true) } : {})
  })
}

const caseOf = async (reference: string) =>
  (
    await ctx.query<{ id: number; status: string; back_office_status: string | null; description: string; lat: number; lng: number; uprn: string | null; reported_phone: string | null; external_report: Record<string, unknown> | null }>(
      'select id, status, back_office_status, description, lat, lng, uprn, reported_phone, external_report from cases where reference = $1',
      [reference]
    )
  )[0]!
const outboundCount = async (caseId: number) => (await ctx.query<{ n: number }>(`select count(*)::int as n from messages where case_id = $1 and direction = 'outbound'`, [caseId]))[0]!.n

describe('a recorded FixMyStreet conversation', () => {
  it('runs through: categories, two reports, the council’s update back, and residents’ comments forward', async () => {
    // 1. PopulateServiceList: services.xml with no key
    const services = asFixMyStreet(await send('services'))
    expect(Array.isArray(services.service)).toBe(true)
    const codes: string[] = []
    for (const s of services.service) {
      codes.push(expectPerlId(s.service_code))
      expect(typeof s.service_name).toBe('string')
      expect(['true', 'false']).toContain(s.metadata)
      // split /,/ without trimming: a category marked private would vanish from the public site
      expect(String(s.keywords ?? '').split(',')).not.toContain('private')
      if (s.metadata === 'true') {
        // _add_meta_to_contact: attributes must be an array, booleans the words
        const def = asFixMyStreet(await ctx.app.inject({ method: 'GET', url: `/open311/v2/services/${s.service_code}.xml?jurisdiction_id=E07000132` }))
        expect(def.service_code).toBe(s.service_code)
        expect(Array.isArray(def.attributes)).toBe(true)
        for (const a of def.attributes) {
          expect(['true', 'false']).toContain(a.variable)
          expect(['true', 'false']).toContain(a.required)
          // no UPRN box on every category: the UPRN is taken when sent, not asked
          if (a.variable === 'true') expect(a.code).not.toBe('uprn')
          if (a.values !== undefined) expect(Array.isArray(a.values)).toBe(true)
        }
      }
    }
    // a district's public categories only: no county roads, nothing private
    expect(codes).toEqual(expect.arrayContaining(['missed_bin', 'fly_tipping']))
    for (const hidden of ['pothole', 'council_tax', 'housing_benefit', 'housing_repair', 'adult_social_care']) expect(codes).not.toContain(hidden)

    // 2. SendReport::Open311: a report with a pin and a UPRN
    const sent = asFixMyStreet(await send('report'))
    fill.report_id = expectPerlId(sent.request[0].service_request_id)
    expect(sent.request[0].token).toBeUndefined()
    const placed = await waitPlaced(ctx, fill.report_id)
    expect(placed.council_gss).toBe(HINCKLEY)
    const first = await caseOf(fill.report_id)
    expect(first.uprn).toBe('10001234567')
    expect(first.external_report).toMatchObject({ client: 'fixmystreet', id: '5110723', url: 'https://www.fixmystreet.com/report/5110723', easting: 450179, northing: 297610 })
    expect(first.description).toContain('third time this month')
    expect(first.description).not.toContain('\r')

    // 3. A report without a pin (a Bromley-style body): placed by its grid reference, a phone
    // as typed, a long report kept whole
    const second = asFixMyStreet(await send('report_without_pin'))
    const secondRef = expectPerlId(second.request[0].service_request_id)
    expect((await waitPlaced(ctx, secondRef)).council_gss).toBe(HINCKLEY)
    const noPin = await caseOf(secondRef)
    expect(noPin.lat).toBeCloseTo(52.574, 3)
    expect(noPin.lng).toBeCloseTo(-1.261, 3)
    expect(noPin.reported_phone).toBeNull()
    expect(noPin.description).toContain('Phone as given (not checked): 07700 900123')
    expect(noPin.description).toContain('Household rubbish, Furniture, Building rubble')
    expect(noPin.description.length).toBeGreaterThan(10_000)

    // 4. The council's own system sets a status through the council API ...
    const council = (await createApiKey(ctx.infra.db, { council: HINCKLEY }, ['read', 'write'])).key
    const update = await ctx.app.inject({
      method: 'POST',
      url: `/v1/cases/${fill.report_id}/updates`,
      headers: { authorization: `Bearer ${council}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ status: 'action_scheduled', description: 'A crew will collect it on Thursday.', update_id: 'HB-WASTE-1' })
    })
    expect(update.statusCode, update.body).toBe(201)

    // ... and GetServiceRequestUpdates fetches it back, within its window
    // (FixMyStreet polls with a window ending at this second; an update made within it is
    // fetched by the next poll, so poll as it does)
    const ours = await waitFor(async () => {
      const fetched = asFixMyStreet(await send('updates'))
      const found = ((fetched?.request_update ?? []) as Perl[]).filter((u) => u.service_request_id === fill.report_id)
      return found.length ? found : null
    }, 5_000, "the council's update in GET servicerequestupdates")
    expect(ours).toHaveLength(1)
    expect(ours[0]).toMatchObject({ update_id: 'HB-WASTE-1', status: 'action_scheduled', description: 'A crew will collect it on Thursday.' })
    expect(ours[0].updated_datetime).toMatch(W3CDTF)
    const before = await caseOf(fill.report_id)
    const toldBefore = await outboundCount(before.id)

    // 5. A neighbour's comment on FixMyStreet arrives as the public's, not the council's

    const comment = asFixMyStreet(await send('comment'))
    expectPerlId(comment.request_update[0].update_id)
    const after = await caseOf(fill.report_id)
    expect(after.status).toBe(before.status)
    expect(after.back_office_status).toBe(before.back_office_status)
    const [message] = await ctx.query<{ body: string; direction: string }>(`select body, direction from messages where case_id = $1 and body like 'Still not collected.%'`, [after.id])
    expect(message).toEqual({ body: 'Still not collected.\nThe bin is now overflowing onto the pavement.', direction: 'inbound' })

    // 6. The reporter marks it fixed on FixMyStreet: their view, never the council's resolution
    asFixMyStreet(await send('comment_fixed'))
    expect((await caseOf(fill.report_id)).status).not.toBe('resolved')

    // 7. A retry of the same comment (FixMyStreet resends after a timeout) changes nothing
    const again = asFixMyStreet(await send('comment'))
    expect(again.request_update[0].update_id).toBe(comment.request_update[0].update_id)
    expect(await ctx.query(`select 1 from messages where case_id = $1 and body like 'Still not collected.%'`, [after.id])).toHaveLength(1)

    // nobody was sent their own words, and the council's updates alone flow back
    expect(await outboundCount(after.id)).toBe(toldBefore)
    const later = asFixMyStreet(await send('updates'))
    expect((later.request_update as Perl[]).filter((u) => u.service_request_id === fill.report_id).map((u) => u.update_id)).toEqual(['HB-WASTE-1'])
  })
})
