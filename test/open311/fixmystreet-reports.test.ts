import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKey } from '../../src/councils/api-keys.js'
import { gridToLatLng } from '../../src/lib/british-grid.js'
import { OPERATOR_KEY, createTestContext, postContact, waitPlaced, type TestContext } from '../helpers/context.js'
import { HINCKLEY } from '../helpers/councils.js'
import { keyFor, report } from './helpers.js'

// What FixMyStreet sends that the standard does not foresee: phones as typed, reports
// longer than the standard's 4,000 characters, its own report's id, page, title, closest
// address and grid position, and the property's UPRN. None of it may cost the report.

let ctx: TestContext
let hinckley: string
beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  hinckley = await keyFor(ctx, HINCKLEY)
})
afterAll(async () => {
  await ctx.close()
})

// LE9 6PW, in Hinckley and Bosworth (seeds/postcodes.csv: 52.574, -1.261), on the British
// National Grid; FixMyStreet's reports carry both
const GRID = { easting: '450179', northing: '297610' }
const bin = { jurisdiction_id: HINCKLEY, service_code: 'missed_bin', 'attribute[bin_type]': 'recycling' }

interface Stored {
  id: number
  description: string
  reported_phone: string | null
  reported_email: string | null
  lat: number | null
  lng: number | null
  uprn: string | null
  usrn: string | null
  external_report: Record<string, unknown> | null
}
const stored = async (reference: string) =>
  (await ctx.query<Stored>('select id, description, reported_phone, reported_email, lat, lng, uprn, usrn, external_report from cases where reference = $1', [reference]))[0]!

describe('a FixMyStreet report is never lost for a detail', () => {
  it('keeps a phone libphonenumber rejects, and an email that does not parse, as typed claims', async () => {
    const ref = await report(ctx, hinckley, { ...bin, lat: '52.574', long: '-1.261', phone: '07700 900123', email: 'pat at example', first_name: 'Pat', last_name: 'Reporter' })
    const c = await stored(ref)
    expect(c.reported_phone).toBeNull()
    expect(c.reported_email).toBeNull()
    expect(c.description).toContain('Phone as given (not checked): 07700 900123')
    expect(c.description).toContain('Email as given (not checked): pat at example')
    // the message records what the sender gave, for an agent to read
    const [m] = await ctx.query<{ sender: string }>('select sender from messages where case_id = $1', [c.id])
    expect(m!.sender).toBe('pat at example')
  })

  it('accepts descriptions and attributes of 10,000 characters and more, and cuts only past 20,000 with a note', async () => {
    const long = 'The bin was not emptied. '.repeat(480) // 12,000 characters
    const ref = await report(ctx, hinckley, { ...bin, lat: '52.574', long: '-1.261', description: long, 'attribute[description]': `Detail: ${'more words '.repeat(1100)}` })
    const c = await stored(ref)
    expect(c.description).toContain(long.trim())
    expect(c.description).toContain('more words '.repeat(1100).trim())

    const huge = 'x'.repeat(30_000)
    const cut = await stored(await report(ctx, hinckley, { ...bin, lat: '52.574', long: '-1.261', description: huge }))
    expect(cut.description).toContain('x'.repeat(20_000))
    expect(cut.description).not.toContain('x'.repeat(20_001))
    expect(cut.description).toContain('30,000 characters were sent')
    // the whole report is kept as received
    const [raw] = await ctx.query<{ n: number }>(`select length(payload->>'description')::int as n from raw_inbound where case_id = $1`, [cut.id])
    expect(raw!.n).toBe(30_000)
  })
})

describe("what FixMyStreet says of its own report is kept", () => {
  it('keeps fixmystreet_id, title, report_url, closest_address, easting and northing on the case and in its text', async () => {
    const ref = await report(ctx, hinckley, {
      ...bin,
      lat: '52.574',
      long: '-1.261',
      description: 'Recycling not collected this week',
      'attribute[fixmystreet_id]': '4410021',
      'attribute[title]': 'Missed recycling on Station Road',
      'attribute[report_url]': 'https://www.fixmystreet.com/report/4410021',
      'attribute[closest_address]': 'Nearest road to the pin: Station Road\r\nNearest postcode: LE9 6PW',
      'attribute[easting]': GRID.easting,
      'attribute[northing]': GRID.northing
    })
    const c = await stored(ref)
    expect(c.external_report).toEqual({
      client: 'fixmystreet',
      id: '4410021',
      url: 'https://www.fixmystreet.com/report/4410021',
      title: 'Missed recycling on Station Road',
      closest_address: 'Nearest road to the pin: Station Road\nNearest postcode: LE9 6PW',
      easting: 450179,
      northing: 297610
    })
    expect(c.description).toContain('FixMyStreet report 4410021: https://www.fixmystreet.com/report/4410021')
    expect(c.description).toContain('Title: Missed recycling on Station Road')
    // the pin wins over the grid position when both are sent
    expect(c).toMatchObject({ lat: 52.574, lng: -1.261 })
  })

  it("reads the report page and id from FixMyStreet's own description when no attribute carries them", async () => {
    const description = 'title: Bin not emptied\r\n\r\ndetail: Left full again\r\n\r\nurl: https://www.fixmystreet.com/report/77\r\n\r\nSubmitted via FixMyStreet\r\n'
    const c = await stored(await report(ctx, hinckley, { ...bin, lat: '52.574', long: '-1.261', description }))
    expect(c.external_report).toMatchObject({ client: 'fixmystreet', id: '77', url: 'https://www.fixmystreet.com/report/77' })
    expect(c.description).not.toContain('\r')
  })

  it('places a report with no pin (#NOTPINPOINTED#, no lat/long) by its easting and northing, and routes it', async () => {
    const ref = await report(ctx, hinckley, { ...bin, address_id: '#NOTPINPOINTED#', 'attribute[easting]': GRID.easting, 'attribute[northing]': GRID.northing })
    const placed = await waitPlaced(ctx, ref)
    expect(placed.council_gss).toBe(HINCKLEY)
    const c = await stored(ref)
    expect(c.lat).toBeCloseTo(52.574, 4)
    expect(c.lng).toBeCloseTo(-1.261, 4)
    const [decision] = await ctx.query<{ reason: string }>(`select reason from case_events where case_id = $1 and type = 'case.routed'`, [c.id])
    expect(decision!.reason).not.toMatch(/needs a location/i)
  })

  it('converts the British National Grid as Ordnance Survey does (their worked example, to within 20 m)', () => {
    // OS "A guide to coordinate systems in Great Britain": E 651409.903, N 313177.270 is
    // 52°39'27.2531"N 1°43'4.5177"E on OSGB36, which is about 52.65798, 1.71605 on WGS84
    const p = gridToLatLng(651409.903, 313177.27)!
    expect(p.lat).toBeCloseTo(52.65798, 3)
    expect(p.lng).toBeCloseTo(1.71605, 3)
    expect(gridToLatLng(-5, 100)).toBeNull()
    expect(gridToLatLng(800_000, 100)).toBeNull()
  })
})

describe('UPRN and USRN on every case', () => {
  it('takes attribute[uprn] and attribute[usrn] from Open311 (zero-padded to 12 digits, as some systems send it), and notes one that is not a UPRN', async () => {
    const c = await stored(await report(ctx, hinckley, { ...bin, lat: '52.574', long: '-1.261', 'attribute[uprn]': '010001234567', 'attribute[usrn]': '2700512' }))
    expect(c).toMatchObject({ uprn: '10001234567', usrn: '2700512' })
    expect(c.description).toContain('Property (UPRN): 10001234567')

    const bad = await stored(await report(ctx, hinckley, { ...bin, lat: '52.574', long: '-1.261', 'attribute[uprn]': 'flat 2' }))
    expect(bad.uprn).toBeNull()
    expect(bad.description).toContain('Property reference as given (not a UPRN): flat 2')
  })

  it('takes uprn and usrn from the web form, and refuses one that is not, naming the field', async () => {
    const ok = await postContact(ctx, { email: 'web.uprn@example.org', postcode: 'LE9 6PW', service_code: 'missed_bin', description: 'Bin missed', uprn: '100030539422', usrn: '2700512' })
    expect(ok.statusCode, ok.body).toBe(202)
    const c = await stored((JSON.parse(ok.body) as { reference: string }).reference)
    expect(c).toMatchObject({ uprn: '100030539422', usrn: '2700512' })

    const bad = await postContact(ctx, { email: 'web.uprn@example.org', postcode: 'LE9 6PW', description: 'Bin missed', uprn: '1234567890123' })
    expect(bad.statusCode).toBe(422)
    expect(JSON.parse(bad.body)).toMatchObject({ code: 'invalid_uprn', field: 'uprn' })
  })

  it("lets the council's system set them, find its cases by them, and gives them in subject access", async () => {
    const ref = await report(ctx, hinckley, { ...bin, lat: '52.574', long: '-1.261', email: 'uprn.export@example.org' })
    await waitPlaced(ctx, ref)
    const key = (await createApiKey(ctx.infra.db, { council: HINCKLEY }, ['read', 'write'])).key
    const api = (method: 'GET' | 'PATCH', url: string, body?: unknown) =>
      ctx.app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) })

    const patched = await api('PATCH', `/v1/cases/${ref}`, { uprn: '010001234599', usrn: '2700599' })
    expect(patched.statusCode, patched.body).toBe(200)
    expect(JSON.parse(patched.body)).toMatchObject({ uprn: '10001234599', usrn: '2700599' })
    expect((await api('PATCH', `/v1/cases/${ref}`, { uprn: 'not-a-uprn' })).statusCode).toBe(400)

    const found = JSON.parse((await api('GET', '/v1/cases?uprn=10001234599')).body) as { cases: { reference: string }[] }
    expect(found.cases.map((c) => c.reference)).toEqual([ref])
    const padded = JSON.parse((await api('GET', '/v1/cases?uprn=010001234599')).body) as { cases: { reference: string }[] }
    expect(padded.cases.map((c) => c.reference)).toEqual([ref])
    const byStreet = JSON.parse((await api('GET', '/v1/cases?usrn=2700599')).body) as { cases: { reference: string }[] }
    expect(byStreet.cases.map((c) => c.reference)).toEqual([ref])
    const none = JSON.parse((await api('GET', '/v1/cases?uprn=100030539400')).body) as { cases: unknown[] }
    expect(none.cases).toEqual([])

    const exported = await ctx.app.inject({
      method: 'POST',
      url: '/v1/admin/residents/export',
      headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ contact: 'uprn.export@example.org' })
    })
    expect(exported.statusCode).toBe(200)
    const doc = JSON.parse(exported.body) as { cases: { reference: string; uprn: string | null; usrn: string | null }[] }
    expect(doc.cases.find((c) => c.reference === ref)).toMatchObject({ uprn: '10001234599', usrn: '2700599' })
  })
})
