import { simpleParser } from 'mailparser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKey, revokeApiKey } from '../../src/councils/api-keys.js'
import { postContact, waitFor, waitPlaced, type TestContext } from '../helpers/context.js'
import { postTwilio, smsParams } from '../helpers/twilio.js'
import { createTwilioContext, type TwilioApiStandIn } from '../helpers/twilio-api.js'
import { HINCKLEY, WESTMINSTER } from '../helpers/councils.js'

const TRI_BOROUGH_NUMBER = '+447700900100'

let ctx: TestContext
let api: TwilioApiStandIn
let close: () => Promise<void>
const keys: Record<'westminster' | 'hinckley' | 'readOnly' | 'triBorough', string> = { westminster: '', hinckley: '', readOnly: '', triBorough: '' }
const refs = { westminster: '', hinckley: '', sms: '' }
let n = 0

beforeAll(async () => {
  ;({ ctx, api, close } = await createTwilioContext())
  keys.westminster = (await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read', 'write'])).key
  keys.hinckley = (await createApiKey(ctx.infra.db, { council: HINCKLEY }, ['read', 'write'])).key
  keys.readOnly = (await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read'])).key
  keys.triBorough = (await createApiKey(ctx.infra.db, { partnership: 'tri-borough' }, ['read'])).key
  refs.westminster = (await postContact(ctx, { email: 'pat.w@example.org', postcode: 'SW1A 1AA', description: 'Missed bin collection on our street' })).json().reference
  refs.hinckley = (await postContact(ctx, { email: 'sam.h@example.org', postcode: 'LE10 0FR', description: 'Missed bin collection again' })).json().reference
  const texted = await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: '+447911000111', To: TRI_BOROUGH_NUMBER, Body: 'Fly-tipping by the bins at SW1A 2AA' }))
  expect(texted.statusCode).toBe(200)
  const [sms] = await ctx.query<{ reference: string }>(`select reference from cases where reported_phone = '+447911000111'`)
  refs.sms = sms!.reference
  for (const ref of Object.values(refs)) await waitPlaced(ctx, ref)
})
afterAll(async () => {
  await close?.()
})

const as = (key: string) => ({ authorization: `Bearer ${key}` })
const get = (key: string, url: string) => ctx.app.inject({ method: 'GET', url, headers: as(key) })
const send = (key: string, method: 'POST' | 'PATCH', url: string, payload: unknown) => ctx.app.inject({ method, url, headers: as(key), payload: payload as Record<string, unknown> })

describe('a council key', () => {
  it("sees its own council's cases and nothing of another council's: list, read, update, note, status", async () => {
    const mine = (await get(keys.westminster, '/v1/cases?limit=500')).json().cases as { reference: string; council_gss: string }[]
    expect(mine.map((c) => c.reference)).toEqual(expect.arrayContaining([refs.westminster, refs.sms]))
    expect(mine.every((c) => c.council_gss === WESTMINSTER)).toBe(true)
    expect(mine.map((c) => c.reference)).not.toContain(refs.hinckley)

    // the matrix: every way in to another council's case is 404, as if it did not exist
    for (const [key, foreign] of [[keys.westminster, refs.hinckley], [keys.hinckley, refs.westminster], [keys.hinckley, refs.sms]] as const) {
      expect((await get(key, `/v1/cases/${foreign}`)).statusCode).toBe(404)
      expect((await get(key, `/v1/cases?reference=${foreign}`)).json().cases).toEqual([])
      expect((await send(key, 'PATCH', `/v1/cases/${foreign}`, { priority: 'urgent' })).statusCode).toBe(404)
      expect((await send(key, 'POST', `/v1/cases/${foreign}/notes`, { body: 'not mine' })).statusCode).toBe(404)
      expect((await send(key, 'POST', `/v1/cases/${foreign}/updates`, { status: 'fixed' })).statusCode).toBe(404)
    }
    const untouched = await ctx.query<{ priority: string; back_office_status: string | null }>('select priority, back_office_status from cases where reference = any($1)', [[refs.hinckley, refs.westminster]])
    expect(untouched.every((c) => c.priority === 'normal' && c.back_office_status === null)).toBe(true)
  })

  it('reads one case with its messages and events, and sets priority and its own reference', async () => {
    const one = (await get(keys.westminster, `/v1/cases/${refs.westminster}`)).json()
    expect(one.reference).toBe(refs.westminster)
    expect(one.messages[0].body).toContain('Missed bin')
    expect(one.events.map((e: { type: string }) => e.type)).toContain('case.routed')
    const patched = await send(keys.westminster, 'PATCH', `/v1/cases/${refs.westminster}`, { priority: 'high', council_reference: 'WCC-WASTE-4411' })
    expect(patched.statusCode).toBe(200)
    expect(patched.json()).toMatchObject({ priority: 'high', council_reference: 'WCC-WASTE-4411' })
    expect((await send(keys.westminster, 'POST', `/v1/cases/${refs.westminster}/notes`, { body: 'Crew informed' })).statusCode).toBe(201)
    const events = (await get(keys.westminster, `/v1/cases/${refs.westminster}`)).json().events as { type: string; data: Record<string, unknown> }[]
    expect(events.some((e) => e.type === 'note.added' && e.data.note === 'Crew informed')).toBe(true)
  })

  it('is refused without the scope a change needs, once revoked, or when it is not a key at all', async () => {
    expect((await send(keys.readOnly, 'PATCH', `/v1/cases/${refs.westminster}`, { priority: 'low' })).statusCode).toBe(401)
    expect((await get(keys.readOnly, `/v1/cases/${refs.westminster}`)).statusCode).toBe(200)
    expect((await get('sbk_' + 'x'.repeat(43), '/v1/cases')).statusCode).toBe(401)
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/cases' })).statusCode).toBe(401)
    const spare = await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read'])
    expect((await get(spare.key, '/v1/cases')).statusCode).toBe(200)
    expect(await revokeApiKey(ctx.infra.db, spare.prefix)).toBe(true)
    expect((await get(spare.key, '/v1/cases')).statusCode).toBe(401)
  })

  it("of a partnership's operators sees its member councils' cases only", async () => {
    const seen = ((await get(keys.triBorough, '/v1/cases?limit=500')).json().cases as { reference: string }[]).map((c) => c.reference)
    expect(seen).toEqual(expect.arrayContaining([refs.westminster, refs.sms]))
    expect(seen).not.toContain(refs.hinckley)
    expect((await get(keys.triBorough, `/v1/cases/${refs.hinckley}`)).statusCode).toBe(404)
  })

  it('pages through its cases with a cursor, oldest change first, and filters by updated_since', async () => {
    for (let i = 0; i < 3; i++) await postContact(ctx, { email: `page.${i}.${++n}@example.org`, postcode: 'SW1A 1AA', description: 'Fly-tipping in the lane' })
    // routed and delivered: nothing moves the cases' updated_at while we page
    await waitFor(async () => (await ctx.query(`select 1 from outbox where done_at is null`)).length === 0, 10_000, 'routing and delivery')
    const all: string[] = []
    let cursor: string | null = null
    do {
      const page = (await get(keys.westminster, `/v1/cases?limit=2${cursor ? `&cursor=${cursor}` : ''}`)).json() as { cases: { reference: string }[]; next_cursor: string | null }
      all.push(...page.cases.map((c) => c.reference))
      cursor = page.next_cursor
    } while (cursor)
    const [{ total } = { total: 0 }] = await ctx.query<{ total: number }>(`select count(*)::int as total from cases where council_gss = $1`, [WESTMINSTER])
    expect(all).toHaveLength(total)
    expect(new Set(all).size).toBe(total)
    const future = new Date(Date.now() + 60_000).toISOString()
    expect((await get(keys.westminster, `/v1/cases?updated_since=${encodeURIComponent(future)}`)).json().cases).toEqual([])
    expect((await get(keys.westminster, '/v1/cases?cursor=garbage')).statusCode).toBe(400)
  })
})

describe('a status update meant for the resident', () => {
  it('reaches a resident who texted by SMS, and appears on the case', async () => {
    const res = await send(keys.westminster, 'POST', `/v1/cases/${refs.sms}/updates`, { status: 'fixed', description: 'The rubbish was cleared this morning.' })
    expect(res.statusCode).toBe(201)
    expect(res.json()).toMatchObject({ applied: true, resident_told_by: 'sms' })
    const text = await waitFor(async () => api.texts.find((t) => t.params.To === '+447911000111' && t.params.Body?.includes(refs.sms)), 10_000, 'the text')
    expect(text.params.Body).toContain('has been fixed')
    expect(text.params.Body).toContain('The rubbish was cleared this morning.')
    expect(text.params.From).toBe(TRI_BOROUGH_NUMBER)
    const one = (await get(keys.westminster, `/v1/cases/${refs.sms}`)).json()
    expect(one).toMatchObject({ status: 'resolved', back_office_status: 'fixed', status_notes: 'The rubbish was cleared this morning.' })
    expect(one.messages.some((m: { direction: string; body: string }) => m.direction === 'outbound' && m.body.includes('has been fixed'))).toBe(true)
    // the same update_id again changes nothing and sends nothing
    const id = res.json().update_id as string
    const again = await send(keys.westminster, 'POST', `/v1/cases/${refs.sms}/updates`, { status: 'fixed', update_id: id })
    expect(again.json()).toMatchObject({ applied: false })
  })

  it("is worded by the council's own template for that status when it has one", async () => {
    await ctx.query(`insert into message_templates (kind, council_gss, status, body) values ('status_update', $1, 'investigating', 'Westminster is looking into {reference}: {description}')`, [WESTMINSTER])
    await ctx.infra.catalogue.load()
    const res = await send(keys.westminster, 'POST', `/v1/cases/${refs.westminster}/updates`, { status: 'investigating', description: 'An officer visits on Monday.' })
    expect(res.json()).toMatchObject({ resident_told_by: 'email' })
    const sent = await waitFor(async () => ctx.mailSink!.messages.find((m) => m.to.includes('pat.w@example.org')), 10_000, 'the mail')
    expect((await simpleParser(sent.raw)).text).toContain(`Westminster is looking into ${refs.westminster}: An officer visits on Monday.`)
  })

  it('reaches a resident who wrote from the web with an email address, by email', async () => {
    const res = await send(keys.hinckley, 'POST', `/v1/cases/${refs.hinckley}/updates`, { status: 'action_scheduled', description: 'A crew will come on Friday.' })
    expect(res.json()).toMatchObject({ applied: true, resident_told_by: 'email' })
    const sent = await waitFor(async () => ctx.mailSink!.messages.find((m) => m.to.includes('sam.h@example.org')), 10_000, 'the mail')
    const mail = await simpleParser(sent.raw)
    expect(mail.subject).toContain(refs.hinckley)
    expect(mail.text).toContain('has work scheduled')
    expect(mail.text).toContain('A crew will come on Friday.')
    const [c] = await ctx.query<{ status: string }>('select status from cases where reference = $1', [refs.hinckley])
    expect(c!.status).toBe('with_back_office')
  })
})

describe('rate limits for council keys', () => {
  it('counts per key, not per address', async () => {
    const limited = await createTwilioContext({ RATE_LIMIT_API_KEY_PER_MIN: 3 })
    try {
      const a = (await createApiKey(limited.ctx.infra.db, { council: WESTMINSTER }, ['read'])).key
      const b = (await createApiKey(limited.ctx.infra.db, { council: WESTMINSTER }, ['read'])).key
      const codes: number[] = []
      for (let i = 0; i < 4; i++) codes.push((await limited.ctx.app.inject({ method: 'GET', url: '/v1/cases', headers: as(a) })).statusCode)
      expect(codes).toEqual([200, 200, 200, 429])
      expect((await limited.ctx.app.inject({ method: 'GET', url: '/v1/cases', headers: as(b) })).statusCode).toBe(200)
    } finally {
      await limited.close()
    }
  })
})
