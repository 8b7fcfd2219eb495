import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caseRow, createTestContext, waitPlaced, type TestContext } from '../helpers/context.js'
import { BLABY, HINCKLEY, LEICESTERSHIRE } from '../helpers/councils.js'
import { expectError, get, keyFor, parseXml, postForm, report } from './helpers.js'

// Council systems set statuses through the case API; Open311's POST servicerequestupdates is
// the public's (test/open311/public-updates.test.ts). What GET servicerequestupdates lists
// back, and what no key may post or read across councils, is tested here.

let ctx: TestContext
let hinckley: string
let blaby: string
let county: string
let hinckleyApi: string
let binRef: string
let taxRef: string

beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  hinckley = await keyFor(ctx, HINCKLEY)
  blaby = await keyFor(ctx, BLABY)
  county = await keyFor(ctx, LEICESTERSHIRE, ['open311', 'read'])
  hinckleyApi = await keyFor(ctx, HINCKLEY, ['read', 'write'])
  binRef = await report(ctx, hinckley, { jurisdiction_id: HINCKLEY, service_code: 'missed_bin', address_string: 'LE10 0AA', 'attribute[bin_type]': 'food', email: 'bins@example.org' })
  taxRef = await report(ctx, hinckley, { jurisdiction_id: HINCKLEY, service_code: 'council_tax', description: 'My bill is wrong' })
  await waitPlaced(ctx, binRef)
  await waitPlaced(ctx, taxRef)
})
afterAll(async () => {
  await ctx.close()
})

/** The council's own status update, through the case API. */
const councilUpdate = (ref: string, body: Record<string, unknown>) =>
  ctx.app.inject({ method: 'POST', url: `/v1/cases/${ref}/updates`, headers: { authorization: `Bearer ${hinckleyApi}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) })

/** A comment through Open311's POST servicerequestupdates. */
const update = (key: string, jurisdiction: string, ref: string, extra: Record<string, string> = {}) =>
  postForm(ctx, '/servicerequestupdates.json', {
    api_key: key,
    jurisdiction_id: jurisdiction,
    service_request_id: ref,
    update_id: 'hbbc-upd-1',
    updated_datetime: '2025-06-01T10:00:00+01:00',
    status: 'FIXED',
    description: 'Collected this afternoon',
    ...extra
  })

describe('servicerequestupdates', () => {
  it("a council's status update (case API) changes the case and is listed, CRLF stored as LF", async () => {
    const body = { status: 'fixed', description: 'Collected this afternoon\r\nby the crew', for_resident: false, update_id: 'hbbc-upd-1' }
    const res = await councilUpdate(binRef, body)
    expect(res.statusCode, res.body).toBe(201)
    expect(res.json()).toMatchObject({ update_id: 'hbbc-upd-1', applied: true })
    const [c] = await ctx.query<{ status: string; back_office_status: string; status_notes: string }>('select status, back_office_status, status_notes from cases where reference = $1', [binRef])
    expect(c).toMatchObject({ status: 'resolved', back_office_status: 'fixed', status_notes: 'Collected this afternoon\nby the crew' })

    // the same update again changes nothing
    const again = await councilUpdate(binRef, body)
    expect(again.statusCode).toBe(201)
    expect(again.json()).toMatchObject({ update_id: 'hbbc-upd-1', applied: false })
    const rows = await ctx.query<{ description: string; author: string; updated_at: Date }>('select description, author, updated_at from case_updates where update_id = $1', ['hbbc-upd-1'])
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ description: 'Collected this afternoon\nby the crew', author: 'council' })

    const now = Date.now()
    const window = { start_date: new Date(now - 3600_000).toISOString(), end_date: new Date(now + 3600_000).toISOString() }
    const list = await get(ctx, '/servicerequestupdates.json', { api_key: hinckley, jurisdiction_id: HINCKLEY, ...window })
    expect(list.statusCode).toBe(200)
    expect(JSON.parse(list.body)).toEqual([
      { update_id: 'hbbc-upd-1', service_request_id: binRef, status: 'fixed', updated_datetime: rows[0]!.updated_at.toISOString(), description: 'Collected this afternoon\nby the crew', media_url: '' }
    ])
    const doc = parseXml(await get(ctx, '/servicerequestupdates.xml', { api_key: hinckley, jurisdiction_id: HINCKLEY, ...window }))
    expect(doc.service_request_updates.request_update[0]).toMatchObject({ update_id: 'hbbc-upd-1', status: 'fixed', service_request_id: binRef })

    // the public record now says closed
    const record = JSON.parse((await get(ctx, `/requests/${binRef}.json`, { jurisdiction_id: HINCKLEY })).body) as { status: string }[]
    expect(record[0]!.status).toBe('closed')
  })

  it('a council status in progress keeps the case open with the back office', async () => {
    const res = await councilUpdate(taxRef, { update_id: 'hbbc-upd-2', status: 'in_progress', description: 'Looking into it', for_resident: false })
    expect(res.statusCode, res.body).toBe(201)
    expect(await caseRow(ctx, taxRef)).toMatchObject({ status: 'with_back_office' })
  })

  it("a council's update_id is its own: the same one on another case is another update", async () => {
    const res = await councilUpdate(taxRef, { update_id: 'hbbc-upd-1', status: 'investigating', description: 'Checking the bill', for_resident: false })
    expect(res.statusCode, res.body).toBe(201)
    expect(res.json()).toMatchObject({ update_id: 'hbbc-upd-1', applied: true })
    const rows = await ctx.query<{ reference: string; status: string }>(
      'select c.reference, u.status from case_updates u join cases c on c.id = u.case_id where u.update_id = $1 order by u.id',
      ['hbbc-upd-1']
    )
    expect(rows).toEqual([
      { reference: binRef, status: 'fixed' },
      { reference: taxRef, status: 'investigating' }
    ])
    expect(await caseRow(ctx, taxRef)).toMatchObject({ status: 'with_back_office' })
  })

  it('refuses an unknown status (400), a missing key (403), an unknown request (404), in the standard shape', async () => {
    expectError(await update(hinckley, HINCKLEY, binRef, { update_id: 'x1', status: 'DONE_AND_DUSTED' }), 400)
    expectError(await update('', HINCKLEY, binRef, { update_id: 'x2' }), 403)
    expectError(await update(hinckley, HINCKLEY, 'NO-SUCH-REF', { update_id: 'x3' }), 404)
    expectError(await update(hinckley, HINCKLEY, binRef, { update_id: 'x4', updated_datetime: 'last week' }), 400)
    expectError(await update(hinckley, HINCKLEY, binRef, { update_id: '' }), 400)
    const xml = await postForm(ctx, '/servicerequestupdates.xml', { api_key: hinckley, jurisdiction_id: HINCKLEY, service_request_id: 'NO-SUCH-REF', update_id: 'x5', updated_datetime: '2025-06-01T10:00:00Z', status: 'FIXED', description: '' })
    expectError(xml, 404, 'xml')
    expect(await ctx.query(`select 1 from case_updates where update_id like 'x%' or update_id = ''`)).toHaveLength(0)
    expect(await ctx.query(`select 1 from raw_inbound where provider_message_id like 'servicerequestupdate:%'`)).toHaveLength(0)
  })

  it('keeps a comment whose email does not parse, and one longer than 4,000 characters, rather than lose it', async () => {
    const long = 'Still there and getting worse. '.repeat(400) // 12,400 characters
    const res = await update(hinckley, HINCKLEY, binRef, { update_id: 'kept-1', email: 'sam at example', description: long })
    expect(res.statusCode, res.body).toBe(200)
    const [m] = await ctx.query<{ body: string; sender: string }>(
      `select m.body, m.sender from case_updates u join messages m on m.id = u.message_id where u.update_id = 'kept-1'`
    )
    expect(m!.body).toContain(long.trim())
    expect(m!.body).toContain('Email as given (not checked): sam at example')
    expect(m!.sender).toBe('sam at example')
  })
})

describe('isolation between councils', () => {
  it("a council's key cannot read another council's non-public case", async () => {
    // Blaby's key, asking within its own jurisdiction: not there (404, existence not revealed)
    expectError(await get(ctx, `/requests/${taxRef}.json`, { jurisdiction_id: BLABY, api_key: blaby }), 404)
    expectError(await get(ctx, `/tokens/${taxRef}.json`, { jurisdiction_id: BLABY, api_key: blaby }), 404)
    // the county, which has a read key, sees none of the district's cases
    expectError(await get(ctx, `/requests/${taxRef}.json`, { jurisdiction_id: LEICESTERSHIRE, api_key: county }), 404)
    const countyList = await get(ctx, '/requests.json', { jurisdiction_id: LEICESTERSHIRE, api_key: county })
    expect(countyList.body).not.toContain(taxRef)
    expect(countyList.body).not.toContain(binRef)
    // and asking as Hinckley with Blaby's key is refused outright
    expectError(await get(ctx, `/requests/${taxRef}.json`, { jurisdiction_id: HINCKLEY, api_key: blaby }), 403)
    expectError(await get(ctx, '/requests.json', { jurisdiction_id: HINCKLEY, api_key: blaby }), 403)
    expectError(await get(ctx, '/servicerequestupdates.json', { jurisdiction_id: HINCKLEY, api_key: blaby }), 403)
    // Hinckley's own key sees it
    expect((await get(ctx, `/requests/${taxRef}.json`, { jurisdiction_id: HINCKLEY, api_key: hinckley })).statusCode).toBe(200)
  })

  it("a council's key cannot post updates to another council's case, nor requests for another jurisdiction", async () => {
    expectError(await update(blaby, BLABY, taxRef, { update_id: 'blaby-1' }), 404)
    expectError(await update(county, LEICESTERSHIRE, binRef, { update_id: 'county-1' }), 404)
    expectError(await update(blaby, HINCKLEY, taxRef, { update_id: 'blaby-2' }), 403)
    expect(await ctx.query(`select 1 from case_updates where update_id in ('blaby-1', 'blaby-2', 'county-1')`)).toHaveLength(0)
    expectError(await postForm(ctx, '/requests.json', { api_key: blaby, jurisdiction_id: HINCKLEY, service_code: 'pothole', address_string: 'LE10 0AA' }), 403)
    expectError(await postForm(ctx, '/requests.xml', { api_key: blaby, jurisdiction_id: HINCKLEY, service_code: 'pothole', address_string: 'LE10 0AA' }), 403, 'xml')
    const updates = await get(ctx, '/servicerequestupdates.json', { jurisdiction_id: LEICESTERSHIRE, api_key: county, start_date: '2025-05-01T00:00:00Z', end_date: '2025-07-01T00:00:00Z' })
    expect(JSON.parse(updates.body)).toEqual([])
  })

  it("a partnership key sees its member councils' cases, and no others", async () => {
    const { createApiKey } = await import('../../src/councils/api-keys.js')
    const { key } = await createApiKey(ctx.infra.db, { partnership: 'leicestershire-districts' }, ['read'])
    expect((await get(ctx, `/requests/${taxRef}.json`, { jurisdiction_id: HINCKLEY, api_key: key })).statusCode).toBe(200)
    expectError(await get(ctx, '/requests.json', { jurisdiction_id: LEICESTERSHIRE, api_key: key }), 403)
  })
})
