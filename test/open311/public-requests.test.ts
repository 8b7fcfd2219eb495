import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, waitPlaced, type TestContext } from '../helpers/context.js'
import { HINCKLEY, LEICESTERSHIRE } from '../helpers/councils.js'
import { expectError, expectSchema, get, keyFor, parseXml, report } from './helpers.js'

let ctx: TestContext
let hinckley: string
const refs: Record<string, string> = {}
// distinctive, so a search of the raw answer text finds any leak
const NAME = ['Zebedee', 'Quartermaine']
const EMAIL = 'zebedee.quartermaine@example.org'
const PHONE = '07911 123456'
const LEAKS = ['Zebedee', 'Quartermaine', 'zebedee.quartermaine', '7911123456', '07911 123456', 'my own words']
const PRIVATE = ['council_tax', 'housing_benefit', 'housing_repair', 'adult_social_care']

beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  hinckley = await keyFor(ctx, HINCKLEY)
  for (const service of ['pothole', 'missed_bin', 'fly_tipping', ...PRIVATE]) {
    refs[service] = await report(ctx, hinckley, {
      jurisdiction_id: HINCKLEY,
      service_code: service,
      address_string: 'LE10 0AA',
      ...(service === 'missed_bin' ? { 'attribute[bin_type]': 'general' } : {}),
      first_name: NAME[0]!,
      last_name: NAME[1]!,
      email: EMAIL,
      phone: PHONE,
      description: `I am Zebedee Quartermaine, ring me on ${PHONE}: my own words about ${service}`
    })
  }
  for (const ref of Object.values(refs)) await waitPlaced(ctx, ref)
})
afterAll(async () => {
  await ctx.close()
})

const expectNoLeak = (text: string) => {
  for (const leak of LEAKS) expect(text).not.toContain(leak)
  for (const service of PRIVATE) {
    expect(text).not.toContain(service)
    expect(text).not.toContain(refs[service])
  }
}

describe('GET /open311/v2/requests without a key', () => {
  for (const jurisdiction of [HINCKLEY, LEICESTERSHIRE]) {
    it(`lists only public services, without personal data (${jurisdiction}, JSON and XML)`, async () => {
      const res = await get(ctx, '/requests.json', { jurisdiction_id: jurisdiction })
      expect(res.statusCode).toBe(200)
      const body = JSON.parse(res.body) as { service_code: string; description: string; service_name: string }[]
      expectSchema('requests', body)
      expect(body.length).toBeGreaterThan(0)
      for (const r of body) expect(r.description).toBe(r.service_name)
      expectNoLeak(res.body)
      const xml = await get(ctx, '/requests.xml', { jurisdiction_id: jurisdiction })
      const doc = parseXml(xml)
      expect(doc.service_requests.request).toHaveLength(body.length)
      expectNoLeak(xml.body)
    })
  }

  it('places each case with its council: the pothole with the county, the bin with the district', async () => {
    const county = JSON.parse((await get(ctx, '/requests.json', { jurisdiction_id: LEICESTERSHIRE })).body) as { service_request_id: string; agency_responsible: string }[]
    const district = JSON.parse((await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY })).body) as { service_request_id: string }[]
    expect(county.map((r) => r.service_request_id)).toContain(refs.pothole)
    expect(county.find((r) => r.service_request_id === refs.pothole)?.agency_responsible).toBe('Leicestershire County Council')
    expect(district.map((r) => r.service_request_id)).toContain(refs.missed_bin)
    expect(district.map((r) => r.service_request_id)).not.toContain(refs.pothole)
  })

  it('answers 404 for a private case, by id and by token, in both formats, and shows public ones without personal data', async () => {
    for (const jurisdiction of [HINCKLEY, LEICESTERSHIRE]) {
      for (const service of PRIVATE) {
        for (const fmt of ['json', 'xml'] as const) {
          for (const path of [`/requests/${refs[service]}.${fmt}`, `/tokens/${refs[service]}.${fmt}`]) {
            const res = await get(ctx, path, { jurisdiction_id: jurisdiction })
            expectError(res, 404, fmt)
            expectNoLeak(res.body)
          }
        }
      }
    }
    const one = await get(ctx, `/requests/${refs.missed_bin}.json`, { jurisdiction_id: HINCKLEY })
    expect(one.statusCode).toBe(200)
    expectSchema('requests', JSON.parse(one.body))
    expectNoLeak(one.body)
    const token = await get(ctx, `/tokens/${refs.missed_bin}.json`, { jurisdiction_id: HINCKLEY })
    expect(JSON.parse(token.body)).toEqual([{ service_request_id: refs.missed_bin, token: refs.missed_bin }])
    const tokenXml = parseXml(await get(ctx, `/tokens/${refs.missed_bin}.xml`, { jurisdiction_id: HINCKLEY }))
    expect(tokenXml.service_requests.request[0].token).toBe(refs.missed_bin)
  })

  it('asks for a key for the status updates', async () => {
    for (const fmt of ['json', 'xml'] as const) {
      const res = await get(ctx, `/servicerequestupdates.${fmt}`, { jurisdiction_id: HINCKLEY })
      expectError(res, 403, fmt)
      expectNoLeak(res.body)
    }
  })

  it('filters by service_code, status, ids and dates, and refuses a window over 90 days', async () => {
    const bins = JSON.parse((await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY, service_code: 'missed_bin,council_tax' })).body) as { service_code: string }[]
    expect(bins.map((r) => r.service_code)).toEqual(['missed_bin'])
    const closed = JSON.parse((await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY, status: 'closed' })).body) as unknown[]
    expect(closed).toEqual([])
    const byId = JSON.parse((await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY, service_request_id: `${refs.missed_bin},${refs.council_tax}`, status: 'closed' })).body) as { service_request_id: string }[]
    expect(byId.map((r) => r.service_request_id)).toEqual([refs.missed_bin])
    const past = JSON.parse((await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY, start_date: '2020-01-01T00:00:00Z', end_date: '2020-02-01T00:00:00Z' })).body) as unknown[]
    expect(past).toEqual([])
    expectError(await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY, start_date: '2020-01-01T00:00:00Z', end_date: '2020-06-01T00:00:00Z' }), 400)
    expectError(await get(ctx, '/requests.xml', { jurisdiction_id: HINCKLEY, start_date: 'yesterday' }), 400, 'xml')
    expectError(await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY, status: 'pending' }), 400)
  })
})

describe('GET /open311/v2/requests with the council key', () => {
  it('shows all its cases, with their descriptions', async () => {
    const res = await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY, api_key: hinckley })
    const body = JSON.parse(res.body) as { service_code: string; description: string }[]
    expectSchema('requests', body)
    expect(body.map((r) => r.service_code).sort()).toEqual(['council_tax', 'fly_tipping', 'housing_benefit', 'housing_repair', 'missed_bin'])
    expect(body.find((r) => r.service_code === 'council_tax')?.description).toContain('my own words about council_tax')
  })

  it('refuses a bad key rather than answering as to the public', async () => {
    expectError(await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY, api_key: 'sbk_nope' }), 403)
  })
})
