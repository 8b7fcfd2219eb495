import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caseRow, createTestContext, waitPlaced, type TestContext } from '../helpers/context.js'
import { HINCKLEY, LEICESTERSHIRE } from '../helpers/councils.js'
import { expectError, expectSchema, keyFor, parseXml, postForm } from './helpers.js'

let ctx: TestContext
let county: string
let hinckley: string
beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  county = await keyFor(ctx, LEICESTERSHIRE)
  hinckley = await keyFor(ctx, HINCKLEY)
})
afterAll(async () => {
  await ctx.close()
})

// seeds/postcodes.csv: LE9 6PW is in Hinckley and Bosworth, LE9 5GH in Blaby (both districts
// of Leicestershire), SW1A 1AA in Westminster
const IN_HINCKLEY = { lat: '52.574', long: '-1.261' }
const IN_BLABY = { lat: '52.581', long: '-1.205' }
const IN_WESTMINSTER = { lat: '51.501009', long: '-0.141588' }
const COUNTY = 'Leicestershire County Council'
const missedBin = { jurisdiction_id: LEICESTERSHIRE, service_code: 'missed_bin', 'attribute[bin_type]': 'recycling', description: 'Recycling not collected' }
const pothole = { jurisdiction_id: LEICESTERSHIRE, service_code: 'pothole', description: 'Deep pothole' }

/** POSTs a report and answers its reference and service_notice, from either format (JSON checked against the schema). */
async function post(fmt: 'json' | 'xml', key: string, form: Record<string, string>) {
  const res = await postForm(ctx, `/requests.${fmt}`, { api_key: key, ...form })
  expect(res.statusCode, res.body).toBe(200)
  if (fmt === 'xml') {
    const [created] = parseXml(res).service_requests.request as { service_request_id: string; service_notice: string }[]
    return { reference: created!.service_request_id, notice: created!.service_notice }
  }
  const body = JSON.parse(res.body) as { service_request_id: string; service_notice: string }[]
  expect(body).toHaveLength(1)
  return { reference: body[0]!.service_request_id, notice: body[0]!.service_notice }
}

/** The name of the council a case was placed with, or null (triage). */
async function placedWith(reference: string) {
  const placed = await waitPlaced(ctx, reference)
  if (!placed.council_gss) return { status: placed.status, council: null, gss: null }
  const [c] = await ctx.query<{ name: string }>('select name from councils where gss = $1', [placed.council_gss])
  return { status: placed.status, council: c!.name, gss: placed.council_gss }
}

/** The notice names a council as having the report only when the case is placed with it. */
async function expectHonest(reference: string, notice: string) {
  const placed = await placedWith(reference)
  const claimed = /Thank you\. (.+) has your report/.exec(notice)?.[1] ?? /passed to (.+?), which handles/.exec(notice)?.[1] ?? null
  if (claimed) {
    expect(placed.council).toBe(claimed)
    expect(placed.status).not.toBe('triage')
  } else expect(notice).toBe(`Thank you. Your report is logged as ${reference}.`)
  return placed
}

async function caseCount() {
  return (await ctx.query<{ n: number }>('select count(*)::int as n from cases'))[0]!.n
}

describe('POST /requests of a service the jurisdiction does not deliver', () => {
  for (const fmt of ['json', 'xml'] as const) {
    it(`passes a missed bin sent to the county with a point in a district to that district, and says so (${fmt})`, async () => {
      const { reference, notice } = await post(fmt, county, { ...missedBin, ...IN_HINCKLEY })
      expect(notice).toContain(`Your report is logged as ${reference}`)
      expect(notice).toContain('passed to Hinckley and Bosworth Borough Council, which handles missed bin collection there')
      expect(notice).not.toContain(`${COUNTY} has`)
      const placed = await expectHonest(reference, notice)
      expect(placed.gss).toBe(HINCKLEY)
    })

    it(`passes it on from a postcode in address_string too (${fmt})`, async () => {
      const { reference, notice } = await post(fmt, county, { ...missedBin, address_string: '3 Mill Lane, Hinckley LE10 0AA' })
      expect(notice).toContain('passed to Hinckley and Bosworth Borough Council')
      expect((await expectHonest(reference, notice)).gss).toBe(HINCKLEY)
    })

    it(`refuses a missed bin sent to the county with a point outside its districts, naming who handles it, and stores nothing (${fmt})`, async () => {
      const before = await caseCount()
      const elsewhere = expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: county, ...missedBin, ...IN_WESTMINSTER }), 400, fmt)
      expect(elsewhere).toContain(`${COUNTY} does not handle missed bin collection`)
      expect(elsewhere).toContain('Hinckley and Bosworth Borough Council')
      expect(elsewhere).toContain('Blaby District Council')
      expect(elsewhere).toContain('the location given')
      const nowhere = expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: county, ...missedBin }), 400, fmt)
      expect(nowhere).toContain(`${COUNTY} does not handle missed bin collection`)
      expect(nowhere).toContain('Hinckley and Bosworth Borough Council')
      expect(nowhere).toContain('needs a location')
      // a case its council could take without a place still needs one to find the district
      const tax = expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: county, jurisdiction_id: LEICESTERSHIRE, service_code: 'council_tax', description: 'Bill is wrong' }), 400, fmt)
      expect(tax).toContain(`${COUNTY} does not handle council tax`)
      expect(tax).toContain('give lat and long, or a postcode in address_string')
      expect(await caseCount()).toBe(before)
    })

    it(`passes a pothole sent to a district to its county, and says so (${fmt})`, async () => {
      const { reference, notice } = await post(fmt, hinckley, { ...pothole, jurisdiction_id: HINCKLEY, address_string: '12 Castle Street, Hinckley LE10 0AA' })
      expect(notice).toContain(`Hinckley and Bosworth Borough Council does not handle pothole or road defect, so it has been passed to ${COUNTY}`)
      expect((await expectHonest(reference, notice)).gss).toBe(LEICESTERSHIRE)
    })
  }
})

describe('the service_notice of POST /requests', () => {
  for (const fmt of ['json', 'xml'] as const) {
    it(`names the county for a pothole in one of its districts (${fmt})`, async () => {
      const { reference, notice } = await post(fmt, county, { ...pothole, ...IN_BLABY })
      expect(notice).toBe(`Thank you. ${COUNTY} has your report: quote ${reference}.`)
      expect((await expectHonest(reference, notice)).gss).toBe(LEICESTERSHIRE)
    })

    it(`names no council for a report that will go to triage (${fmt})`, async () => {
      // an address without a postcode or a point: Hinckley takes missed bins, but routing cannot place it
      const { reference, notice } = await post(fmt, hinckley, { ...missedBin, jurisdiction_id: HINCKLEY, address_string: '12 Castle Street, Hinckley' })
      expect(notice).toBe(`Thank you. Your report is logged as ${reference}.`)
      expect(notice).not.toContain('Council')
      expect((await placedWith(reference)).status).toBe('triage')
    })
  }

  it('names only the council the case is routed to, whatever the point (a pothole sent to the county, in Westminster)', async () => {
    // named by the client, the county keeps its upper-tier case wherever the point is
    const { reference, notice } = await post('json', county, { ...pothole, ...IN_WESTMINSTER })
    await expectHonest(reference, notice)
  })

  it('takes attribute[uprn] and attribute[usrn] on a service that asks neither', async () => {
    const res = await postForm(ctx, '/requests.json', {
      api_key: hinckley,
      jurisdiction_id: HINCKLEY,
      service_code: 'street_cleaning',
      address_string: 'LE10 0AA',
      'attribute[uprn]': '100030539421',
      'attribute[usrn]': '12345678',
      description: 'Litter all along the verge'
    })
    expect(res.statusCode, res.body).toBe(200)
    const body = JSON.parse(res.body) as { service_request_id: string }[]
    expect(await caseRow(ctx, body[0]!.service_request_id)).toBeDefined()
  })

  it('answers records that validate for a case passed on, under the council it went to', async () => {
    const { reference } = await post('json', county, { ...missedBin, ...IN_HINCKLEY })
    await waitPlaced(ctx, reference)
    const res = await ctx.app.inject({ method: 'GET', url: `/open311/v2/requests/${reference}.json?jurisdiction_id=E07000132&api_key=${hinckley}` })
    expect(res.statusCode).toBe(200)
    expectSchema('requests', JSON.parse(res.body))
  })
})
