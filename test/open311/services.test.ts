import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { HINCKLEY, WESTMINSTER } from '../helpers/councils.js'
import { expectError, expectSchema, get, keyFor, parseXml } from './helpers.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx.close()
})

describe('Open311 discovery, services and service definitions', () => {
  it("lists a district's public services in JSON that validates against services.json", async () => {
    const res = await get(ctx, '/services.json', { jurisdiction_id: HINCKLEY })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    const body = JSON.parse(res.body) as { service_code: string; metadata: boolean; type: string }[]
    expectSchema('services', body)
    // Hinckley and Bosworth is a district: its bins and streets, not the county's roads
    expect(body.map((s) => s.service_code)).toEqual(['bulky_waste', 'fly_tipping', 'missed_bin', 'street_cleaning'])
    expect(body.find((s) => s.service_code === 'missed_bin')).toMatchObject({ metadata: true, type: 'realtime' })
  })

  it('lists the same services in XML as <services><service>', async () => {
    const doc = parseXml(await get(ctx, '/services.xml', { jurisdiction_id: HINCKLEY }))
    const json = JSON.parse((await get(ctx, '/services.json', { jurisdiction_id: HINCKLEY })).body) as unknown[]
    expect(doc.services.service).toHaveLength(json.length)
    expect(doc.services.service.find((s: { service_code: string }) => s.service_code === 'missed_bin')).toMatchObject({ service_name: 'Missed bin collection', type: 'realtime', metadata: 'true' })
  })

  it('defines missed_bin with a required bin_type list and nothing else, in JSON and XML', async () => {
    const res = await get(ctx, '/services/missed_bin.json', { jurisdiction_id: HINCKLEY })
    expect(res.statusCode).toBe(200)
    const def = JSON.parse(res.body) as { attributes: { code: string; required: boolean; datatype: string; values?: { key: string }[] }[] }
    expectSchema('service-definition', def)
    const binType = def.attributes.find((a) => a.code === 'bin_type')
    expect(binType).toMatchObject({ required: true, datatype: 'singlevaluelist' })
    expect(binType!.values!.map((v) => v.key)).toEqual(['general', 'recycling', 'garden', 'food'])
    // a UPRN is taken when sent, never asked
    expect(def.attributes.map((a) => a.code)).toEqual(['bin_type'])

    const doc = parseXml(await get(ctx, '/services/missed_bin.xml', { jurisdiction_id: HINCKLEY }))
    expect(doc.service_definition.service_code).toBe('missed_bin')
    const attr = doc.service_definition.attributes.attribute.find((a: { code: string }) => a.code === 'bin_type')
    expect(attr.required).toBe('true')
    expect(attr.values.value.map((v: { key: string }) => v.key)).toEqual(['general', 'recycling', 'garden', 'food'])
    expect(doc.service_definition.attributes.attribute.map((a: { code: string }) => a.code)).toEqual(['bin_type'])
  })

  it('every service a council lists to its key has a definition that validates', async () => {
    const key = await keyFor(ctx, WESTMINSTER, ['read'])
    const list = JSON.parse((await get(ctx, '/services.json', { jurisdiction_id: WESTMINSTER, api_key: key })).body) as { service_code: string }[]
    expect(list).toHaveLength(15)
    for (const s of list) {
      const res = await get(ctx, `/services/${s.service_code}.json`, { jurisdiction_id: WESTMINSTER, api_key: key })
      expect(res.statusCode).toBe(200)
      expectSchema('service-definition', JSON.parse(res.body))
    }
  })

  it('answers discovery in both formats', async () => {
    const json = JSON.parse((await get(ctx, '/discovery.json')).body) as { endpoints: { url: string; formats: string[] }[] }
    expect(json.endpoints[0]!.url).toMatch(/\/open311\/v2$/)
    expect(json.endpoints[0]!.formats).toEqual(['application/json', 'text/xml'])
    const doc = parseXml(await get(ctx, '/discovery.xml'))
    expect(doc.discovery.endpoints.endpoint[0].formats.format).toEqual(['application/json', 'text/xml'])
  })

  for (const fmt of ['json', 'xml'] as const) {
    it(`refuses in the standard error shape (${fmt}): 400 without jurisdiction_id, 404 for an unknown one or an unknown service`, async () => {
      expect(expectError(await get(ctx, `/services.${fmt}`), 400, fmt)).toContain('jurisdiction_id')
      expectError(await get(ctx, `/services.${fmt}`, { jurisdiction_id: 'E99999999' }), 404, fmt)
      expectError(await get(ctx, `/services/no_such_service.${fmt}`, { jurisdiction_id: HINCKLEY }), 404, fmt)
      expectError(await get(ctx, `/no-such-call.${fmt}`), 404, fmt)
    })
  }

  it('shows every Open311 call in the OpenAPI document', async () => {
    const doc = JSON.parse((await ctx.app.inject({ method: 'GET', url: '/docs/json' })).body) as { paths: Record<string, Record<string, { tags?: string[] }>> }
    for (const path of ['/open311/v2/services.json', '/open311/v2/services/{service_code}.xml', '/open311/v2/requests.json', '/open311/v2/requests/{service_request_id}.json', '/open311/v2/tokens/{token}.xml', '/open311/v2/servicerequestupdates.json']) {
      expect(Object.keys(doc.paths)).toContain(path)
    }
    expect(doc.paths['/open311/v2/requests.json']!.post!.tags).toEqual(['open311'])
  })
})
