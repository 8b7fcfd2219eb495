import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, postContact, type TestContext } from '../helpers/context.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})

const valid = { name: 'Priya Shah', email: 'Priya.Shah@Example.com', postcode: 'le10 0fr', description: 'My bin was missed on Tuesday' }

async function stored() {
  const [row] = await ctx.query<{ raw: number; cases: number; residents: number; messages: number; outbox: number }>(
    `select (select count(*)::int from raw_inbound) as raw, (select count(*)::int from cases) as cases,
            (select count(*)::int from residents) as residents, (select count(*)::int from messages) as messages,
            (select count(*)::int from outbox) as outbox`
  )
  return row!
}

describe('POST /v1/contacts', () => {
  it('answers 202 with a reference and status URL once the contact is stored', async () => {
    const before = await stored()
    const res = await postContact(ctx, valid)
    expect(res.statusCode).toBe(202)
    const body = res.json() as { reference: string; status_url: string }
    expect(body.reference).toMatch(/^SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/)
    expect(body.status_url).toBe(`${ctx.config.PUBLIC_BASE_URL}/v1/contacts/${body.reference}`)
    expect(res.headers.location).toBe(body.status_url)
    const after = await stored()
    expect(after).toEqual({ raw: before.raw + 1, cases: before.cases + 1, residents: before.residents + 1, messages: before.messages + 1, outbox: before.outbox + 1 })
    const [c] = await ctx.query<{ postcode: string; description: string; status: string }>('select postcode, description, status from cases where reference = $1', [body.reference])
    expect(c).toMatchObject({ postcode: 'LE10 0FR', description: valid.description })
    const [cp] = await ctx.query<{ value: string }>(`select value from contact_points where kind = 'email' and value = 'priya.shah@example.com'`)
    expect(cp).toBeDefined()
  })

  it('gives each case an unguessable, distinct reference', async () => {
    const refs = new Set<string>()
    for (let i = 0; i < 20; i++) refs.add((await postContact(ctx, { ...valid, email: `r${i}@example.com` })).json().reference)
    expect(refs.size).toBe(20)
  })

  it('knows the same resident across contacts by normalised email and phone', async () => {
    const answers = []
    answers.push(await postContact(ctx, { email: 'jo@example.org', phone: '07911 123456', postcode: 'SW1A 1AA', description: 'Noise from a party' }))
    answers.push(await postContact(ctx, { phone: '+44 7911 123456', postcode: 'SW1A 1AA', description: 'The party noise again' }))
    answers.push(await postContact(ctx, { email: ' JO@EXAMPLE.ORG ', postcode: 'SW1A 1AA', description: 'And again' }))
    expect(answers.map((a) => a.statusCode)).toEqual([202, 202, 202])
    const rows = await ctx.query<{ residents: number; cases: number }>(
      `select count(distinct c.resident_id)::int as residents, count(*)::int as cases from cases c
        join contact_points cp on cp.resident_id = c.resident_id where cp.kind = 'phone' and cp.value = '+447911123456'`
    )
    expect(rows[0]).toEqual({ residents: 1, cases: 3 })
  })

  it('adds a message to the resident’s own open case when it quotes the reference', async () => {
    const first = (await postContact(ctx, { email: 'thread@example.com', postcode: 'SW1A 1AA', description: 'Fly tipping on the corner' })).json()
    const again = await postContact(ctx, { email: 'thread@example.com', reference: first.reference, description: 'It is still there' })
    expect(again.json().reference).toBe(first.reference)
    const [n] = await ctx.query<{ n: number }>('select count(*)::int as n from messages m join cases c on c.id = m.case_id where c.reference = $1', [first.reference])
    expect(n!.n).toBe(2)
    // someone else quoting that reference gets a case of their own
    const other = await postContact(ctx, { email: 'stranger@example.com', reference: first.reference, description: 'pothole', postcode: 'LE10 0FR' })
    expect(other.json().reference).not.toBe(first.reference)
  })

  // a NUL is refused (test/channels/input-hygiene.test.ts); other unusual text is kept
  it('stores emoji, right-to-left text and zero-width characters as sent', async () => {
    const text = 'Bin missed 🗑️ — صندوق القمامة\u200b!'
    const res = await postContact(ctx, { email: 'utf8@example.com', postcode: 'SW1A 1AA', description: text })
    expect(res.statusCode).toBe(202)
    const [c] = await ctx.query<{ description: string }>('select description from cases where reference = $1', [res.json().reference])
    expect(c!.description).toBe(text)
  })

  it('makes a retry with the same Idempotency-Key return the same answer and store nothing new', async () => {
    const headers = { 'idempotency-key': 'form-7f3c2a' }
    const first = await postContact(ctx, valid, headers)
    const before = await stored()
    const second = await postContact(ctx, valid, headers)
    expect(second.statusCode).toBe(202)
    expect(second.json()).toEqual(first.json())
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(await stored()).toEqual(before)
  })
})

describe('bad input gets a clear error, names the field and stores nothing', () => {
  const cases: [string, () => Promise<{ statusCode: number; json(): unknown }>, number, string, string][] = [
    ['malformed JSON', () => ctx.app.inject({ method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload: '{"email": "a@b.com",' }), 400, 'malformed_json', 'body'],
    ['wrong content type', () => ctx.app.inject({ method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'text/plain' }, payload: 'my bin' }), 415, 'unsupported_media_type', 'content-type'],
    ['form body', () => ctx.app.inject({ method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'email=a%40b.com' }), 415, 'unsupported_media_type', 'content-type'],
    ['oversized body', () => postContact(ctx, { ...valid, name: 'x'.repeat(70_000) }), 413, 'payload_too_large', 'body'],
    ['no email and no phone', () => postContact(ctx, { name: 'Anon', postcode: 'LE10 0FR', description: 'bins' }), 422, 'contact_required', 'email'],
    ['impossible email', () => postContact(ctx, { ...valid, email: 'not an email' }), 422, 'invalid_email', 'email'],
    ['impossible phone', () => postContact(ctx, { ...valid, email: undefined, phone: '12345' }), 422, 'invalid_phone', 'phone'],
    ['unknown service code', () => postContact(ctx, { ...valid, service_code: 'dragon_sighting' }), 422, 'unknown_service_code', 'service_code'],
    ['impossible postcode', () => postContact(ctx, { ...valid, postcode: 'QQ99 9QQ' }), 422, 'invalid_postcode', 'postcode'],
    ['postcode that is not one', () => postContact(ctx, { ...valid, postcode: '12345' }), 422, 'invalid_postcode', 'postcode'],
    ['latitude without longitude', () => postContact(ctx, { ...valid, lat: 52.5 }), 422, 'incomplete_location', 'long'],
    ['coordinates in France', () => postContact(ctx, { ...valid, lat: 48.85, long: 2.35 }), 422, 'location_outside_uk', 'lat'],
    ['coordinates in the North Sea', () => postContact(ctx, { ...valid, lat: 55.0, long: 4.5 }), 422, 'location_outside_uk', 'long'],
    ['latitude out of range', () => postContact(ctx, { ...valid, lat: 123, long: 0 }), 400, 'validation_failed', 'lat'],
    ['unknown council', () => postContact(ctx, { ...valid, council: 'E09999999' }), 422, 'unknown_council', 'council'],
    ['neither description nor service', () => postContact(ctx, { email: 'a@example.com', postcode: 'LE10 0FR' }), 422, 'description_required', 'description'],
    ['description too long', () => postContact(ctx, { ...valid, description: 'x'.repeat(4001) }), 400, 'validation_failed', 'description'],
    ['wrong type', () => postContact(ctx, { ...valid, lat: 'north', long: 0 }), 400, 'validation_failed', 'lat'],
    ['unknown field', () => postContact(ctx, { ...valid, is_admin: true }), 400, 'validation_failed', 'is_admin'],
    ['a JSON array', () => postContact(ctx, [valid]), 400, 'validation_failed', 'body'],
    ['__proto__ key', () => ctx.app.inject({ method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload: '{"email":"a@b.com","description":"x","__proto__":{"admin":true}}' }), 400, 'malformed_json', 'body']
  ]
  for (const [what, send, status, code, field] of cases) {
    it(`${what} → ${status} ${code} (${field})`, async () => {
      const before = await stored()
      const res = await send()
      expect(res.statusCode).toBe(status)
      expect(res.json()).toMatchObject({ code, field })
      expect(await stored()).toEqual(before)
    })
  }

  it('refuses a reused Idempotency-Key carrying a different request', async () => {
    const headers = { 'idempotency-key': 'form-reused-1' }
    expect((await postContact(ctx, valid, headers)).statusCode).toBe(202)
    const before = await stored()
    const res = await postContact(ctx, { ...valid, description: 'Something else entirely' }, headers)
    expect(res.statusCode).toBe(422)
    expect(res.json()).toMatchObject({ code: 'idempotency_key_reused', field: 'idempotency-key' })
    expect(await stored()).toEqual(before)
  })
})
