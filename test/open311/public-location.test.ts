import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, postContact, waitPlaced, type TestContext } from '../helpers/context.js'
import { HINCKLEY, LEICESTERSHIRE } from '../helpers/councils.js'
import { expectSchema, get, keyFor, parseXml, report } from './helpers.js'

// Issue 20, point 13: without a key, Open311 shows a problem at someone's home (a missed
// bin, bulky waste: services whose location_kind is not 'street') only by its outward code
// and coordinates rounded to about 100 m; a street problem (a pothole, fly-tipping) where it
// is. With the council's key, everything as stored.

const DISTRICT = HINCKLEY // bins, fly-tipping
const COUNTY = LEICESTERSHIRE // potholes
const AT = { lat: '52.541234', long: '-1.371987' }
const BLURRED = { lat: 52.541, long: -1.372 }
const EXACT = { lat: 52.541234, long: -1.371987 }

let ctx: TestContext
const keys = { district: '', county: '' }
const refs: Record<string, string> = {}

beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true, mail: 'demo' })
  keys.district = await keyFor(ctx, DISTRICT, ['open311', 'read'])
  keys.county = await keyFor(ctx, COUNTY, ['read'])
  for (const service of ['missed_bin', 'bulky_waste', 'fly_tipping', 'pothole']) {
    refs[service] = await report(ctx, keys.district, {
      jurisdiction_id: DISTRICT,
      service_code: service,
      address_string: '12 Castle Street, Hinckley LE10 0FR',
      ...AT,
      ...(service === 'missed_bin' ? { 'attribute[bin_type]': 'general' } : {}),
      email: 'resident@example.org',
      description: 'Reported at my door'
    })
  }
  // a web report: a unit postcode, no coordinates
  const web = await postContact(ctx, { email: 'web.resident@example.org', postcode: 'LE10 0FR', service_code: 'missed_bin', description: 'Bin missed' })
  expect(web.statusCode, web.body).toBe(202)
  refs.web = (web.json() as { reference: string }).reference
  for (const ref of Object.values(refs)) await waitPlaced(ctx, ref)
})
afterAll(async () => {
  await ctx?.close()
})

interface Shown {
  service_request_id: string
  zipcode: string | null
  lat: number | null
  long: number | null
}

/** The request as listed and as fetched alone, in JSON and in XML (as numbers, for comparing). */
async function shown(jurisdiction: string, reference: string, key?: string): Promise<Shown[]> {
  const q = { jurisdiction_id: jurisdiction, ...(key ? { api_key: key } : {}) }
  const out: Shown[] = []
  for (const path of ['/requests', `/requests/${reference}`]) {
    const json = await get(ctx, `${path}.json`, q)
    expect(json.statusCode, json.body).toBe(200)
    const list = JSON.parse(json.body) as Shown[]
    expectSchema('requests', list)
    const found = list.find((r) => r.service_request_id === reference)!
    out.push({ service_request_id: found.service_request_id, zipcode: found.zipcode, lat: found.lat, long: found.long })
    const xml = parseXml(await get(ctx, `${path}.xml`, q)) as { service_requests: { request: Record<string, string>[] } }
    const one = xml.service_requests.request.find((r) => r.service_request_id === reference)!
    const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v))
    out.push({ service_request_id: one.service_request_id!, zipcode: one.zipcode || null, lat: num(one.lat), long: num(one.long) })
  }
  return out
}

describe('public Open311 locations', () => {
  it('gives a problem at a home only its outward code and coordinates rounded to about 100 m', async () => {
    for (const service of ['missed_bin', 'bulky_waste']) {
      for (const r of await shown(DISTRICT, refs[service]!)) expect(r, service).toEqual({ service_request_id: refs[service], zipcode: 'LE10', ...BLURRED })
    }
    for (const r of await shown(DISTRICT, refs.web!)) expect(r).toEqual({ service_request_id: refs.web, zipcode: 'LE10', lat: null, long: null })
  })

  it('shows a street problem where it is', async () => {
    for (const r of await shown(DISTRICT, refs.fly_tipping!)) expect(r).toEqual({ service_request_id: refs.fly_tipping, zipcode: 'LE10 0FR', ...EXACT })
    for (const r of await shown(COUNTY, refs.pothole!)) expect(r).toEqual({ service_request_id: refs.pothole, zipcode: 'LE10 0FR', ...EXACT })
  })

  it("shows the council's key everything as stored", async () => {
    for (const service of ['missed_bin', 'bulky_waste', 'fly_tipping']) {
      for (const r of await shown(DISTRICT, refs[service]!, keys.district)) expect(r, service).toEqual({ service_request_id: refs[service], zipcode: 'LE10 0FR', ...EXACT })
    }
    for (const r of await shown(COUNTY, refs.pothole!, keys.county)) expect(r).toEqual({ service_request_id: refs.pothole, zipcode: 'LE10 0FR', ...EXACT })
  })

  it('says where each service is in the catalogue, and takes any service not marked street to be at a home', async () => {
    const rows = await ctx.query<{ code: string; location_kind: string }>('select code, location_kind from services order by code')
    const street = rows.filter((r) => r.location_kind === 'street').map((r) => r.code)
    expect(street.sort()).toEqual(['fly_tipping', 'gritting', 'pothole', 'street_cleaning', 'street_light'])
    await ctx.query(`insert into services (code, name, tier) values ('abandoned_vehicle', 'Abandoned vehicle', 'lower')`)
    expect((await ctx.query<{ location_kind: string }>(`select location_kind from services where code = 'abandoned_vehicle'`))[0]?.location_kind).toBe('property')
  })
})
