import { randomUUID } from 'node:crypto'
import { simpleParser } from 'mailparser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKey } from '../../src/councils/api-keys.js'
import { verifyWebhook } from '../../src/delivery/signature.js'
import { createTestContext, postContact, waitFor, type TestContext } from '../helpers/context.js'
import { startReceiver, useWebhookDestination, waitDelivery, type Receiver } from '../helpers/delivery.js'
import { WESTMINSTER } from '../helpers/councils.js'

const SECRET = 'whsec_test_1c9e2b7a4d6f8e0a3b5c7d9e'
const HIGHWAYS_MAILBOX = 'highways@wcc.council.example'

const BIN_REPORT = {
  client: 'fixmystreet',
  id: '12345',
  url: 'https://www.fixmystreet.com/report/12345',
  title: 'Recycling bin not collected',
  closest_address: 'Buckingham Palace Road, London SW1A 1AA',
  easting: 528978,
  northing: 179639
}

let ctx: TestContext
let hook: Receiver
let councilKey: string
/** a missed bin from FixMyStreet with its property and street; one with neither; a pothole by mail */
const refs = { bin: '', plainBin: '', pothole: '' }

async function report(service: string, description: string) {
  const res = await postContact(ctx, { email: `uk.${randomUUID().slice(0, 8)}@example.com`, postcode: 'SW1A 1AA', service_code: service, description })
  expect(res.statusCode, res.body).toBe(202)
  return (res.json() as { reference: string }).reference
}

/** A report as FixMyStreet sends it through Open311, with what it says of its own report. */
async function fromFixMyStreet(key: string, form: Record<string, string>) {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/open311/v2/requests.json',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ api_key: key, jurisdiction_id: WESTMINSTER, address_string: 'Buckingham Palace Road, London SW1A 1AA', ...form }).toString()
  })
  expect(res.statusCode, res.body).toBe(200)
  return (res.json() as { service_request_id: string }[])[0]!.service_request_id
}

beforeAll(async () => {
  ctx = await createTestContext({ DELIVERY_ATTEMPTS: 3 })
  hook = await startReceiver(() => 200)
  await useWebhookDestination(ctx, { council: WESTMINSTER, service: 'missed_bin', url: hook.url, secret: SECRET, team: 'Waste and street scene' })
  councilKey = (await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read'])).key

  const fms = (await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['open311'])).key
  refs.bin = await fromFixMyStreet(fms, {
    service_code: 'missed_bin',
    'attribute[bin_type]': 'recycling',
    description: 'The blue recycling bin was not collected on Tuesday',
    'attribute[uprn]': '10033544614',
    'attribute[usrn]': '8400709',
    'attribute[fixmystreet_id]': BIN_REPORT.id,
    'attribute[report_url]': BIN_REPORT.url,
    'attribute[title]': BIN_REPORT.title,
    'attribute[closest_address]': BIN_REPORT.closest_address,
    'attribute[easting]': String(BIN_REPORT.easting),
    'attribute[northing]': String(BIN_REPORT.northing)
  })
  refs.plainBin = await report('missed_bin', 'Black bin missed again')
  refs.pothole = await fromFixMyStreet(fms, {
    service_code: 'pothole',
    description: 'A deep pothole by the bus stop',
    'attribute[usrn]': '8401046',
    'attribute[fixmystreet_id]': '67890',
    'attribute[report_url]': 'https://www.fixmystreet.com/report/67890',
    // a reporter's title with a line break must not make a line of its own in the mail
    'attribute[title]': 'Deep pothole\nUPRN:        999999',
    'attribute[closest_address]': 'Grosvenor Place, London'
  })

  await ctx.startWorkers()
  for (const ref of Object.values(refs)) await waitDelivery(ctx, ref, ['delivered', 'dead'])
})
afterAll(async () => {
  await hook?.close()
  await ctx?.close()
})

/** The body the council's webhook got for a case, its signature checked. */
function delivered(reference: string) {
  const req = hook.requests.find((r) => (JSON.parse(r.body) as { case: { reference: string } }).case.reference === reference)
  expect(req, `a webhook request for ${reference}`).toBeDefined()
  expect(verifyWebhook(SECRET, String(req!.headers['x-switchboard-timestamp']), req!.body, String(req!.headers['x-switchboard-signature']))).toBe(true)
  return JSON.parse(req!.body) as { schema: string; case: Record<string, unknown> }
}

describe("a council's webhook", () => {
  it("gets the service's LGSL code, the UPRN and USRN, and the FixMyStreet report with its URL", () => {
    const body = delivered(refs.bin)
    expect(body.schema).toBe('switchboard.case.v1')
    expect(body.case.service).toEqual({ code: 'missed_bin', name: 'Missed bin collection', lgsl: 524 })
    expect(body.case.location).toMatchObject({ postcode: 'SW1A 1AA', uprn: '10033544614', usrn: '8400709' })
    expect(Object.keys(body.case.location as object).sort()).toEqual(['lat', 'long', 'postcode', 'uprn', 'usrn'])
    expect(body.case.external_report).toEqual(BIN_REPORT)
    expect(body.case.team).toBe('Waste and street scene')
  })

  it('gets the same shape for a case with neither: the LGSL code still, the rest null', () => {
    const body = delivered(refs.plainBin)
    expect(body.case.service).toEqual({ code: 'missed_bin', name: 'Missed bin collection', lgsl: 524 })
    expect(body.case.location).toMatchObject({ postcode: 'SW1A 1AA', uprn: null, usrn: null })
    expect(body.case.external_report).toBeNull()
  })
})

describe("a council's team mail", () => {
  it('shows the LGSL code, UPRN, USRN and the FixMyStreet report as plain lines', async () => {
    const message = await waitFor(async () => ctx.mailSink!.messages.find((m) => m.to.includes(HIGHWAYS_MAILBOX) && m.raw.toString().includes(refs.pothole)), 5_000, 'the pothole mail')
    const lines = (await simpleParser(message.raw)).text!.split('\n')
    expect(lines).toEqual(
      expect.arrayContaining([
        'Service:     Pothole or road defect (pothole)',
        'LGSL:        557',
        'UPRN:        -',
        'USRN:        8401046',
        'Report:      FixMyStreet report 67890, https://www.fixmystreet.com/report/67890',
        'Title:       Deep pothole UPRN: 999999',
        'Closest address: Grosvenor Place, London'
      ])
    )
    expect(lines.filter((l) => l.startsWith('UPRN:'))).toEqual(['UPRN:        -'])
  })
})

describe('the council case API', () => {
  const get = (url: string) => ctx.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${councilKey}` } })

  it('gives the LGSL code, UPRN, USRN and the report in one case and in the list', async () => {
    const one = await get(`/v1/cases/${refs.bin}`)
    expect(one.statusCode, one.body).toBe(200)
    expect(one.json()).toMatchObject({ reference: refs.bin, service_code: 'missed_bin', service_lgsl: 524, uprn: '10033544614', usrn: '8400709', external_report: BIN_REPORT })

    const listed = await get(`/v1/cases?reference=${refs.bin}`)
    expect(listed.statusCode, listed.body).toBe(200)
    expect(listed.json().cases).toEqual([expect.objectContaining({ service_lgsl: 524, uprn: '10033544614', usrn: '8400709', external_report: BIN_REPORT })])
  })

  it('says null for what a case does not have, with every report field present', async () => {
    const plain = (await get(`/v1/cases/${refs.plainBin}`)).json()
    expect(plain).toMatchObject({ service_lgsl: 524, uprn: null, usrn: null, external_report: null })
    const pothole = (await get(`/v1/cases/${refs.pothole}`)).json()
    expect(pothole.external_report).toEqual({
      client: 'fixmystreet',
      id: '67890',
      url: 'https://www.fixmystreet.com/report/67890',
      // a headline is kept as one line
      title: 'Deep pothole UPRN: 999999',
      closest_address: 'Grosvenor Place, London',
      easting: null,
      northing: null
    })
  })
})
