import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import ajvFormats from 'ajv-formats'
import { XMLParser } from 'fast-xml-parser'
import { expect } from 'vitest'
import { createApiKey, type ApiKeyScope } from '../../src/councils/api-keys.js'
import type { TestContext } from '../helpers/context.js'

const SCHEMAS = join(import.meta.dirname, '../fixtures/open311')
const addFormats = ajvFormats as unknown as typeof ajvFormats.default
// the schemas are plain draft-07 without $schema or $id; they refer to each other by file name
const ajv = new Ajv({ strict: false, allErrors: true })
addFormats(ajv)
for (const name of ['request', 'service', 'requests', 'services', 'service-definition']) {
  ajv.addSchema(JSON.parse(readFileSync(join(SCHEMAS, `${name}.json`), 'utf8')), `${name}.json`)
}

/** Asserts a JSON answer validates against one of test/fixtures/open311/*.json. */
export function expectSchema(schema: 'requests' | 'services' | 'service-definition' | 'request', body: unknown) {
  const validate = ajv.getSchema(`${schema}.json`)!
  const ok = validate(body)
  expect(validate.errors ?? [], `${schema}.json`).toEqual([])
  expect(ok).toBe(true)
}

const parser = new XMLParser({ parseTagValue: false, isArray: (name) => ['service', 'request', 'error', 'attribute', 'value', 'request_update', 'endpoint', 'format'].includes(name) })

/** Parses an XML answer (failing on anything that is not XML) after checking its content type. */
export function parseXml(res: { headers: Record<string, unknown>; body: string }): Record<string, any> {
  expect(String(res.headers['content-type'])).toBe('text/xml; charset=utf-8')
  expect(res.body.startsWith('<?xml')).toBe(true)
  return parser.parse(res.body, true) as Record<string, any>
}

/** Asserts the standard error shape in both formats, with the HTTP status equal to the code. */
export function expectError(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, format: 'json' | 'xml' = 'json') {
  expect(res.statusCode).toBe(status)
  if (format === 'json') {
    expect(String(res.headers['content-type'])).toBe('application/json; charset=utf-8')
    const body = JSON.parse(res.body) as { code: number; description: string }[]
    expect(body).toHaveLength(1)
    expect(body[0]!.code).toBe(status)
    expect(typeof body[0]!.description).toBe('string')
    return body[0]!.description
  }
  const doc = parseXml(res)
  expect(doc.errors.error).toHaveLength(1)
  expect(doc.errors.error[0].code).toBe(String(status))
  return String(doc.errors.error[0].description)
}

export async function keyFor(ctx: TestContext, council: string, scopes: ApiKeyScope[] = ['open311']) {
  return (await createApiKey(ctx.infra.db, { council }, scopes)).key
}

/** POSTs a form to an Open311 call. */
export function postForm(ctx: TestContext, url: string, form: Record<string, string | string[]>) {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(form)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one)
  return ctx.app.inject({ method: 'POST', url: `/open311/v2${url}`, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, payload: params.toString() })
}

/** GETs an Open311 call with these query parameters. */
export function get(ctx: TestContext, url: string, query: Record<string, string> = {}) {
  const qs = new URLSearchParams(query).toString()
  return ctx.app.inject({ method: 'GET', url: `/open311/v2${url}${qs ? `?${qs}` : ''}` })
}

/** Creates a case through POST /requests.json and returns its reference. */
export async function report(ctx: TestContext, key: string, form: Record<string, string | string[]>) {
  const res = await postForm(ctx, '/requests.json', { api_key: key, ...form })
  expect(res.statusCode, res.body).toBe(200)
  const [created] = JSON.parse(res.body) as { service_request_id: string }[]
  return created!.service_request_id
}

