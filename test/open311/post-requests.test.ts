import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caseRow, createTestContext, waitPlaced, type TestContext } from '../helpers/context.js'
import { BLABY, HINCKLEY, LEICESTERSHIRE } from '../helpers/councils.js'
import { expectError, expectSchema, keyFor, parseXml, postForm, report } from './helpers.js'

let ctx: TestContext
let hinckley: string
let blaby: string
beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  hinckley = await keyFor(ctx, HINCKLEY)
  blaby = await keyFor(ctx, BLABY)
})
afterAll(async () => {
  await ctx.close()
})

const pothole = { jurisdiction_id: HINCKLEY, service_code: 'pothole', address_string: '12 Castle Street, Hinckley LE10 0AA', description: 'Deep pothole by the kerb' }

describe('POST /open311/v2/requests', () => {
  it('creates a case through intake that is routed to the county for a pothole in Hinckley', async () => {
    const res = await postForm(ctx, '/requests.json', { api_key: hinckley, ...pothole, email: 'Reporter@Example.org', first_name: 'Ada', last_name: 'Reporter' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    const body = JSON.parse(res.body) as Record<string, unknown>[]
    expect(body).toHaveLength(1)
    expect(typeof body[0]!.service_request_id).toBe('string')
    expect(body[0]).not.toHaveProperty('token')
    expect(body[0]!.account_id).toBeNull()
    const placed = await waitPlaced(ctx, body[0]!.service_request_id as string)
    expect(placed).toMatchObject({ council_gss: LEICESTERSHIRE, service_code: 'pothole' })
    const [stored] = await ctx.query<{ channel: string; postcode: string; reported_email: string; reported_name: string; description: string }>(
      'select channel, postcode, reported_email, reported_name, description from cases where id = $1',
      [placed.id]
    )
    expect(stored).toMatchObject({ channel: 'open311', postcode: 'LE10 0AA', reported_email: 'reporter@example.org', reported_name: 'Ada Reporter' })
    expect(stored!.description).toContain('Deep pothole by the kerb')
    // the key is not kept with the raw payload
    const raw = await ctx.query<{ payload: Record<string, unknown>; provider: string }>('select payload, provider from raw_inbound where case_id = $1', [placed.id])
    expect(raw[0]!.payload).not.toHaveProperty('api_key')
    expect(raw[0]!.provider).toMatch(/^open311:\d+$/)
  })

  it('answers in XML as <service_requests><request>', async () => {
    const res = await postForm(ctx, '/requests.xml', { api_key: hinckley, ...pothole })
    expect(res.statusCode).toBe(200)
    const doc = parseXml(res)
    expect(doc.service_requests.request).toHaveLength(1)
    expect(doc.service_requests.request[0].service_request_id).toMatch(/^[A-Z0-9-]+$/)
  })

  it('writes the attribute answers into the case text and routes a missed bin to the district', async () => {
    const ref = await report(ctx, hinckley, { jurisdiction_id: HINCKLEY, service_code: 'missed_bin', address_string: 'LE10 0AA', 'attribute[bin_type]': 'recycling' })
    const placed = await waitPlaced(ctx, ref)
    expect(placed.council_gss).toBe(HINCKLEY)
    const [c] = await ctx.query<{ description: string }>('select description from cases where id = $1', [placed.id])
    expect(c!.description).toContain('Which bin was missed?: Recycling')
  })

  it('accepts a FixMyStreet-style client: deviceid, attribute[uprn], address_id=#NOTPINPOINTED#, lat/long', async () => {
    const ref = await report(ctx, hinckley, {
      jurisdiction_id: HINCKLEY,
      service_code: 'fly_tipping',
      lat: '52.5385',
      long: '-1.3745',
      address_id: '#NOTPINPOINTED#',
      deviceid: 'fms-device-1',
      'attribute[uprn]': '100030539421',
      'attribute[waste_type][]': ['household', 'furniture'],
      description: 'Sofa dumped in the lane',
      first_name: 'Fix',
      last_name: 'MyStreet',
      email: 'fms-user@example.org'
    })
    const row = await caseRow(ctx, ref)
    expect(row).toBeDefined()
    const [c] = await ctx.query<{ lat: number; lng: number; description: string }>('select lat, lng, description from cases where reference = $1', [ref])
    expect(c).toMatchObject({ lat: 52.5385, lng: -1.3745 })
    expect(c!.description).toContain('100030539421')
    expect(c!.description).toContain('Household rubbish, Furniture')
    expect(c!.description).not.toContain('#NOTPINPOINTED#')
  })

  for (const fmt of ['json', 'xml'] as const) {
    it(`refuses in the standard error shape (${fmt}) and stores nothing`, async () => {
      const before = (await ctx.query<{ n: number }>('select count(*)::int as n from cases'))[0]!.n
      expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: 'sbk_not-a-real-key', ...pothole }), 403, fmt)
      expectError(await postForm(ctx, `/requests.${fmt}`, { ...pothole }), 403, fmt)
      // a key for Blaby cannot report for Hinckley
      expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: blaby, ...pothole }), 403, fmt)
      expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: hinckley, ...pothole, service_code: 'no_such_service' }), 404, fmt)
      expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: hinckley, ...pothole, jurisdiction_id: 'E99999999' }), 404, fmt)
      expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: hinckley, ...pothole, jurisdiction_id: '' }), 400, fmt)
      const missing = expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: hinckley, ...pothole, service_code: 'missed_bin' }), 400, fmt)
      expect(missing).toContain('bin_type')
      expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: hinckley, ...pothole, service_code: 'missed_bin', 'attribute[bin_type]': 'glass' }), 400, fmt)
      // (a long description and a phone or email that does not parse are kept, not refused:
      // test/open311/fixmystreet-reports.test.ts)
      expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: hinckley, ...pothole, lat: '52.5' }), 400, fmt)
      const { address_string: _a, ...nowhere } = pothole
      expectError(await postForm(ctx, `/requests.${fmt}`, { api_key: hinckley, ...nowhere }), 400, fmt)
      // JSON is not a form
      const asJson = await ctx.app.inject({ method: 'POST', url: `/open311/v2/requests.${fmt}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ api_key: hinckley, ...pothole }) })
      expectError(asJson, 400, fmt)
      const after = (await ctx.query<{ n: number }>('select count(*)::int as n from cases'))[0]!.n
      expect(after).toBe(before)
    })
  }

  it('refuses a key without the open311 scope', async () => {
    const readOnly = await keyFor(ctx, HINCKLEY, ['read'])
    expectError(await postForm(ctx, '/requests.json', { api_key: readOnly, ...pothole }), 403)
  })

  it('answers records that validate against requests.json for the cases it made', async () => {
    const ref = await report(ctx, hinckley, { ...pothole, service_code: 'street_light', media_url: 'https://example.org/photo.jpg' })
    await waitPlaced(ctx, ref)
    const res = await ctx.app.inject({ method: 'GET', url: `/open311/v2/requests/${ref}.json?jurisdiction_id=E10000018` })
    expect(res.statusCode).toBe(200)
    expectSchema('requests', JSON.parse(res.body))
  })

  it("gives back the client's address and photo link to the council's key, and to nobody else", async () => {
    const ref = await report(ctx, hinckley, { ...pothole, service_code: 'street_light', address_id: 'UPRN-100030491234', media_url: 'https://example.org/lamp.jpg' })
    await waitPlaced(ctx, ref)
    const county = await keyFor(ctx, LEICESTERSHIRE, ['read'])
    const keyed = JSON.parse((await ctx.app.inject({ method: 'GET', url: `/open311/v2/requests/${ref}.json?jurisdiction_id=E10000018&api_key=${county}` })).body) as Record<string, unknown>[]
    expect(keyed[0]).toMatchObject({ address: pothole.address_string, address_id: 'UPRN-100030491234', media_url: 'https://example.org/lamp.jpg' })
    expectSchema('requests', keyed)
    const open = JSON.parse((await ctx.app.inject({ method: 'GET', url: `/open311/v2/requests/${ref}.json?jurisdiction_id=E10000018` })).body) as Record<string, unknown>[]
    expect(open[0]).toMatchObject({ address: null, address_id: null, media_url: null })
  })
})
