import { randomUUID } from 'node:crypto'
import twilio from 'twilio'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createAgent } from '../../src/agents/accounts.js'
import { createApiKey } from '../../src/councils/api-keys.js'
import { createTestContext, OPERATOR_KEY, postContact, waitPlaced, type TestContext } from '../helpers/context.js'
import { ACCOUNT_SID, formBody, smsParams, TWILIO_TOKEN, voiceParams } from '../helpers/twilio.js'
import { startTwilioApi, type TwilioApiStandIn } from '../helpers/twilio-api.js'
import { WESTMINSTER } from '../helpers/councils.js'

// Walks every operation the OpenAPI document lists, as an attacker with a fuzzer would, with
// the right credentials so each request gets past authentication to validation and the
// database: bad numbers in every path parameter and integer query parameter, a lone UTF-16
// surrogate in every string of every JSON body, absurd numbers in every number of a body.
// Nothing may answer 5xx; the inputs issue 20 names must be a 400 that names the field.

const EMAIL_SECRET = 'walk:0123456789abcdef0123'
// "1e400" and a 400-digit number parse to Infinity, twenty digits to more than a bigint holds
const ALWAYS_BAD = ['1e400', 'Infinity', '-Infinity', '99999999999999999999', '1' + '0'.repeat(400), 'abc', '1.5', '0x10', 'NaN', '']
const MAYBE_BAD = ['-1', '0', String(Number.MAX_SAFE_INTEGER)]
const LONE_SURROGATE = '\ud800'

type Schema = {
  type?: string
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  anyOf?: Schema[]
  enum?: unknown[]
  example?: unknown
  examples?: unknown[]
  default?: unknown
  format?: string
  pattern?: string
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
}
type Parameter = { in: 'path' | 'query' | 'header'; name: string; required?: boolean; schema: Schema }
type Operation = { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> } }
interface Sent {
  method: string
  path: string
  query: Record<string, string>
  body?: { json: string } | { form: Record<string, string | string[]> }
}

let ctx: TestContext
let twilioApi: TwilioApiStandIn
let doc: { paths: Record<string, Record<string, Operation>> }
const creds = { councilKey: '', agentToken: '' }
const refs = { one: '', two: '' }
let agentEmail = ''
let agentPassword = ''

beforeAll(async () => {
  // texts the walk causes (acknowledgements) go to a local stand-in for Twilio's API
  twilioApi = await startTwilioApi()
  ctx = await createTestContext(
    // bodies up to 1 MB, room for JSON nested 400,000 deep
    { TWILIO_AUTH_TOKEN: TWILIO_TOKEN, TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_API_URL: twilioApi.url, EMAIL_INBOUND_SECRETS: EMAIL_SECRET, BODY_LIMIT_BYTES: 1_048_576 },
    { workers: true }
  )
  // two cases placed with Westminster, so routes that take a reference reach the database with it
  for (const key of ['one', 'two'] as const) {
    const res = await postContact(ctx, { email: `walk.${key}@example.org`, postcode: 'SW1A 1AA', description: 'Overflowing litter bin by the bus stop' })
    expect(res.statusCode, res.body).toBe(202)
    refs[key] = res.json().reference
    await waitPlaced(ctx, refs[key])
  }
  creds.councilKey = (await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read', 'write', 'open311'])).key
  // a supervisor, so the supervisors' routes are exercised too; its token from a real login
  agentEmail = `walk.supervisor.${Date.now()}@example.org`
  agentPassword = (await createAgent(ctx.infra.db, { partnership: 'tri-borough', email: agentEmail, role: 'supervisor' })).password
  const login = await ctx.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: agentEmail, password: agentPassword } })
  expect(login.statusCode, login.body).toBe(200)
  creds.agentToken = login.json().token
  doc = (await ctx.app.inject({ method: 'GET', url: '/docs/json' })).json()
}, 60_000)
afterAll(async () => {
  await ctx?.close()
  await twilioApi?.close()
})

/** A value the schema accepts, as plausible as the walk needs: a real case, a real council. */
function plausible(name: string, s: Schema): unknown {
  if (s.anyOf) return plausible(name, s.anyOf[0]!)
  if (s.example !== undefined) return s.example
  if (s.examples?.length) return s.examples[0]
  if (s.enum?.length) return s.enum[0]
  if (s.default !== undefined) return s.default
  switch (s.type) {
    case 'integer':
    case 'number':
      return Math.max(1, s.minimum ?? 1)
    case 'boolean':
      return true
    case 'array':
      return [plausible(name, s.items ?? {})]
    case 'object':
      return bodyOf(s)
  }
  if (s.pattern?.includes('SB-') || s.pattern?.includes('[Ss][Bb]')) return name === 'into' ? refs.two : refs.one
  if (s.pattern?.includes('[EWSN]') || /gss|council|jurisdiction/.test(name)) return WESTMINSTER
  if (s.format === 'uuid') return randomUUID()
  if (s.format === 'date-time') return new Date().toISOString()
  if (/email|contact/.test(name)) return 'walk.one@example.org'
  if (name === 'partnership') return 'tri-borough'
  return 'Walk text'.padEnd(s.minLength ?? 0, '.').slice(0, s.maxLength ?? 100)
}

function bodyOf(s: Schema): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  for (const name of s.required ?? []) body[name] = plausible(name, s.properties?.[name] ?? {})
  return body
}

// Bodies whose required properties alone would stop short of the database
const extraFor = (key: string): Record<string, unknown> =>
  ({
    'POST /v1/contacts': { email: 'walk.one@example.org', postcode: 'SW1A 1AA', description: 'Overflowing litter bin by the bus stop' },
    'POST /v1/auth/login': { email: agentEmail, password: agentPassword },
    'POST /v1/agent/residents/merge': { keep: refs.one, merge: refs.two }
  })[key] ?? {}

/** The JSON body schema of an operation (the first branch of a union). */
function jsonSchemaOf(op: Operation): Schema | undefined {
  const s = op.requestBody?.content['application/json']?.schema
  return s?.anyOf ? s.anyOf[0] : s
}

function plausibleBody(method: string, path: string, op: Operation): Sent['body'] {
  if (path.startsWith('/channels/twilio/voice')) return { form: voiceParams({}) }
  if (path.startsWith('/channels/twilio')) return { form: smsParams({ From: '+447911000222', To: '+447700900100', Body: 'Walk text' }) }
  if (path.startsWith('/open311/')) return { form: { jurisdiction_id: WESTMINSTER, service_code: 'missed_bin', email: 'walk.one@example.org', description: 'Walk text', service_request_id: refs.one, status: 'open', updated_datetime: new Date().toISOString() } }
  const s = jsonSchemaOf(op)
  if (!s) return undefined
  return { json: JSON.stringify({ ...bodyOf(s), ...extraFor(`${method} ${path}`) }) }
}

function credentialsFor(path: string): Record<string, string> {
  if (path.startsWith('/v1/admin')) return { authorization: `Bearer ${OPERATOR_KEY}` }
  if (path.startsWith('/v1/cases') || path.startsWith('/v1/webhooks') || path.startsWith('/open311/')) return { authorization: `Bearer ${creds.councilKey}` }
  if (path.startsWith('/v1/agent') || path.startsWith('/v1/supervisor')) return { authorization: `Bearer ${creds.agentToken}` }
  if (path.startsWith('/channels/email')) return { authorization: `Bearer ${EMAIL_SECRET.split(':')[1]}` }
  return {}
}

function send(r: Sent) {
  const qs = new URLSearchParams(r.query).toString()
  const url = `${r.path}${qs ? `?${qs}` : ''}`
  const headers = credentialsFor(r.path)
  if (r.body && 'json' in r.body) return ctx.app.inject({ method: r.method as 'GET', url, headers: { ...headers, 'content-type': 'application/json' }, payload: r.body.json })
  if (r.body && 'form' in r.body) {
    // signed as Twilio signs, over the public URL and the form, so Twilio routes get past the signature
    const signature = twilio.getExpectedTwilioSignature(TWILIO_TOKEN, `${ctx.config.PUBLIC_BASE_URL}${url}`, r.body.form)
    const form = { ...headers, 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }
    return ctx.app.inject({ method: r.method as 'GET', url, headers: form, payload: formBody(r.body.form) })
  }
  return ctx.app.inject({ method: r.method as 'GET', url, headers })
}

/** Every operation with plausible values for its path and required query parameters. */
function operations() {
  const out: { method: string; template: string; op: Operation; params: Parameter[]; base: (pathValues?: Record<string, string>) => Sent }[] = []
  for (const [template, ops] of Object.entries(doc.paths)) {
    for (const [lower, op] of Object.entries(ops)) {
      const method = lower.toUpperCase()
      const params = op.parameters ?? []
      const base = (pathValues: Record<string, string> = {}): Sent => {
        let path = template
        for (const p of params.filter((p) => p.in === 'path')) path = path.replace(`{${p.name}}`, encodeURIComponent(pathValues[p.name] ?? String(plausible(p.name, p.schema))))
        const query: Record<string, string> = {}
        for (const p of params.filter((p) => p.in === 'query' && p.required && p.schema.default === undefined)) query[p.name] = String(plausible(p.name, p.schema))
        return { method, path, query, body: plausibleBody(method, template, op) }
      }
      out.push({ method, template, op, params, base })
    }
  }
  return out
}

/** The field a refusal names: ours in `field`, Open311's in its description, Twilio's TwiML not at all. */
function namedField(template: string, res: { statusCode: number; body: string; headers: Record<string, unknown> }): string | undefined {
  if (template.startsWith('/channels/twilio')) return undefined
  if (template.startsWith('/open311/')) return /^\[?\{"code":\d+,"description":"([\w.]+) /.exec(res.body)?.[1] ?? /<description>([\w.]+) /.exec(res.body)?.[1]
  try {
    return (JSON.parse(res.body) as { field?: string }).field
  } catch {
    return undefined
  }
}

describe('a walk over every operation of /docs/json with bad input', () => {
  let failures: string[] = []
  // "METHOD /template field" for each input walked, to show the cases issue 20 names were among them
  const walked = new Set<string>()
  beforeEach(() => {
    failures = []
  })
  afterEach(() => {
    // every request the test sent, each failure listed: a 5xx, or a refusal that does not name the field
    expect(failures.length, `${failures.length} failed requests:\n${failures.join('\n')}`).toBe(0)
  })
  const check = async (what: string, template: string, r: Sent, expectField?: string) => {
    const res = await send(r)
    if (res.statusCode >= 500) failures.push(`${what}: ${res.statusCode} ${res.body.slice(0, 160)}`)
    else if (expectField !== undefined) {
      const named = namedField(template, res)
      const twilioRoute = template.startsWith('/channels/twilio')
      if (res.statusCode !== 400 || (!twilioRoute && named !== expectField)) failures.push(`${what}: expected 400 naming ${expectField}, got ${res.statusCode} ${res.body.slice(0, 160)}`)
    }
  }

  it('gets the plausible request of every operation past authentication', async () => {
    // the walk is only worth something if the credentials work: no 401/403 for the plain request
    const refused: string[] = []
    for (const o of operations()) {
      if (o.template.startsWith('/docs')) continue
      const res = await send(o.base())
      if (res.statusCode === 401 || res.statusCode === 403) refused.push(`${o.method} ${o.template}: ${res.statusCode} ${res.body.slice(0, 120)}`)
      if (res.statusCode >= 500) failures.push(`${o.method} ${o.template} (plausible): ${res.statusCode} ${res.body.slice(0, 160)}`)
    }
    expect(refused).toEqual([])
  })

  it('answers every bad path and integer query parameter with a 4xx, a 400 naming it where it is a number', async () => {
    for (const o of operations()) {
      for (const p of o.params.filter((p) => p.in === 'path' || (p.in === 'query' && (p.schema.type === 'integer' || p.schema.type === 'number')))) {
        const numeric = p.schema.type === 'integer' || p.schema.type === 'number'
        for (const value of [...ALWAYS_BAD, ...MAYBE_BAD]) {
          // an empty path segment is another route
          if (p.in === 'path' && value === '') continue
          const r = o.base(p.in === 'path' ? { [p.name]: value } : {})
          if (p.in === 'query') r.query[p.name] = value
          const n = Number(value)
          const admitted = MAYBE_BAD.includes(value) && n >= (p.schema.minimum ?? -Infinity) && n <= (p.schema.maximum ?? Infinity)
          // the router itself refuses a path segment over 100 characters, naming the path
          const field = p.in === 'path' && value.length > 100 ? 'path' : numeric && !admitted ? p.name : undefined
          await check(`${o.method} ${o.template} ${p.in} ${p.name}=${JSON.stringify(value.slice(0, 24))}`, o.template, r, field)
        }
        walked.add(`${o.method} ${o.template} ${p.name}`)
      }
    }
    expect([...walked]).toEqual(
      expect.arrayContaining([
        'GET /v1/agent/queue team',
        'DELETE /v1/webhooks/{id} id',
        'GET /v1/webhooks/dead-letters limit',
        'GET /v1/admin/messages/{id}/html id',
        'POST /v1/admin/email/quarantine/{id}/release id',
        'POST /v1/agent/merges/{id}/undo id',
        'POST /v1/agent/teams/{id}/assign id'
      ])
    )
  })

  it('answers a lone surrogate in any string of a JSON body, and an absurd number in any number, with a 400 naming the field', async () => {
    for (const o of operations()) {
      const s = jsonSchemaOf(o.op)
      const base = o.base()
      if (!s?.properties || !base.body || !('json' in base.body)) continue
      const plain = JSON.parse(base.body.json) as Record<string, unknown>
      for (const [name, prop] of Object.entries(s.properties)) {
        const variants: [string, string][] = []
        const types = prop.anyOf ? prop.anyOf.map((b) => b.type) : [prop.type]
        // JSON.stringify writes a lone surrogate as the escape \ud800: what an attacker sends
        if (types.includes('string')) variants.push([name, JSON.stringify({ ...plain, [name]: LONE_SURROGATE })])
        if (prop.type === 'array' && prop.items?.type === 'string') variants.push([`${name}.0`, JSON.stringify({ ...plain, [name]: [LONE_SURROGATE] })])
        if (types.includes('integer') || types.includes('number')) {
          for (const raw of ['1e400', '99999999999999999999', '-1e400']) variants.push([name, JSON.stringify({ ...plain, [name]: '__N__' }).replace('"__N__"', raw)])
        }
        for (const [field, json] of variants) {
          await check(`${o.method} ${o.template} body ${field}=${json.slice(0, 80)}`, o.template, { ...base, body: { json } }, field)
          walked.add(`${o.method} ${o.template} ${field}`)
        }
      }
    }
    // JSON.parse takes arrays nested 400,000 deep; the search for the surrogate must too
    const deep = JSON.stringify({ email: 'walk.deep@example.org', description: '__D__', name: LONE_SURROGATE }).replace('"__D__"', `${'['.repeat(400_000)}${']'.repeat(400_000)}`)
    await check('POST /v1/contacts a lone surrogate after arrays nested 400,000 deep', '/v1/contacts', { method: 'POST', path: '/v1/contacts', query: {}, body: { json: deep } }, 'name')
    expect([...walked]).toEqual(
      expect.arrayContaining([
        'POST /v1/contacts description',
        'POST /v1/contacts lat',
        'PATCH /v1/cases/{reference} council_reference',
        'POST /v1/agent/cases/{reference}/notes body',
        'POST /v1/admin/residents/erase contacts.0',
        'POST /v1/agent/cases/{reference}/transfer agent_id'
      ])
    )
  })
})
