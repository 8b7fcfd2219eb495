import type { FastifyRequest } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import twilio from 'twilio'
import { isSignedByTwilio } from '../../src/channels/twilio/signature.js'
import { messagingTwiml } from '../../src/channels/twilio/twiml.js'
import { caseRow, createTestContext, eventsOf, postContact, waitFor, waitPlaced, type TestContext } from '../helpers/context.js'
import { tableCounts } from '../helpers/pipeline.js'
import { formBody, messageSid, postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'
import { HINCKLEY } from '../helpers/councils.js'

// Texts as Twilio really sends them: a signed form POST, answered with TwiML.

const PARTNERSHIP_NUMBER = '+447700900200' // leicestershire-districts
const WESTMINSTER_NUMBER = '+447700900101' // dedicated to Westminster
const RESIDENT = '+447911123450'
// (not outbox: the workers write delivery rows for earlier cases at any moment; an outbox row
// from intake is only ever written with a case)
const TABLES = ['raw_inbound', 'cases', 'messages', 'residents', 'contact_points']

let ctx: TestContext
beforeAll(async () => {
  // the per-address limit is on, and low: Twilio routes must not be subject to it
  ctx = await createTestContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN, RATE_LIMIT_INTAKE_PER_MIN: 2 }, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

const text = (from: string, to: string, body: string, over: Record<string, string | string[]> = {}) =>
  postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: from, To: to, Body: body, ...over }))

function expectTwiml(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number) {
  expect(res.statusCode, res.body).toBe(status)
  expect(String(res.headers['content-type'])).toMatch(/^text\/xml/)
  expect(res.body.startsWith('<?xml version="1.0" encoding="UTF-8"?><Response')).toBe(true)
}

const REFERENCE = /SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/
const referenceIn = (body: string) => REFERENCE.exec(body)?.[0]

describe('X-Twilio-Signature', () => {
  const request = (signature: string) =>
    ({
      headers: { 'x-twilio-signature': signature },
      raw: { url: '/myapp.php?foo=1&bar=2' },
      url: '/myapp.php?foo=1&bar=2',
      body: { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' }
    }) as unknown as FastifyRequest

  it('passes twilio-node’s own test vector, built from the public base URL and the raw path and query', () => {
    expect(isSignedByTwilio(request('RSOYDt4T1cUTdK1PDd93/VVr8B8='), 'https://mycompany.com', ['12345'])).toBe(true)
    // the same with the token being rotated in: either one passes
    expect(isSignedByTwilio(request('RSOYDt4T1cUTdK1PDd93/VVr8B8='), 'https://mycompany.com', ['new-token-abcdef', '12345'])).toBe(true)
    expect(isSignedByTwilio(request('RSOYDt4T1cUTdK1PDd93/VVr8B8='), 'https://mycompany.com', ['54321'])).toBe(false)
    expect(isSignedByTwilio(request('RSOYDt4T1cUTdK1PDd93/VVr8B9='), 'https://mycompany.com', ['12345'])).toBe(false)
    expect(isSignedByTwilio(request(''), 'https://mycompany.com', ['12345'])).toBe(false)
  })

  it('refuses with 403 TwiML, storing nothing, a text whose Body differs by one character from what was signed', async () => {
    const before = await tableCounts(ctx, TABLES)
    const params = smsParams({ From: RESIDENT, To: PARTNERSHIP_NUMBER, Body: 'Bin not collected at LE10 0AA' })
    const tampered = formBody({ ...params, Body: 'Bin not collected at LE10 0AB' })
    expectTwiml(await postTwilio(ctx, '/channels/twilio/sms', params, { body: tampered }), 403)
    expectTwiml(await postTwilio(ctx, '/channels/twilio/sms', params, { token: null }), 403)
    expectTwiml(await postTwilio(ctx, '/channels/twilio/sms', params, { token: 'some-other-account-token-000000' }), 403)
    expect(await tableCounts(ctx, TABLES)).toEqual(before)
    // the same request, untouched, is taken
    expectTwiml(await postTwilio(ctx, '/channels/twilio/sms', params), 200)
  })
})

describe('the TwiML answer', () => {
  it('is what the twilio package would build, escaping whatever the text holds', () => {
    const library = (text?: string) => {
      const r = new twilio.twiml.MessagingResponse()
      if (text) r.message(text)
      return r.toString()
    }
    for (const text of [undefined, 'Thank you, your reference is SB-7KQ2-M9XD-4TPA.', 'Tom & Jerry <b>"quoted"</b> \'apos\' 🗑️']) {
      expect(messagingTwiml(text)).toBe(library(text))
    }
  })
})

describe('an incoming text', () => {
  it('becomes a case routed as the web channel would, acknowledged with its reference', async () => {
    const from = '+447911123449'
    const res = await text(from, PARTNERSHIP_NUMBER, 'Bin not collected at LE10 0AA')
    expectTwiml(res, 200)
    const reference = referenceIn(res.body)
    expect(reference, res.body).toBeDefined()
    expect(res.body).toContain('<Message>')
    const web = (await postContact(ctx, { email: 'same.place@example.com', postcode: 'LE10 0AA', description: 'Bin not collected' })).json() as { reference: string }
    // both compared once delivered: a case read just after routing may be a step behind the other
    const delivered = (ref: string) => waitFor(async () => { const row = await caseRow(ctx, ref); return row?.status === 'with_back_office' ? row : null }, 10_000, `case ${ref} delivered`)
    const placed = await delivered(reference!)
    const webPlaced = await delivered(web.reference)
    expect(placed).toMatchObject({ status: webPlaced.status, council_gss: webPlaced.council_gss, service_code: webPlaced.service_code, team: webPlaced.team })
    expect(placed.council_gss).toBe(HINCKLEY)
    // the sender's number is proven: Twilio signed the request
    const [point] = await ctx.query<{ verified: boolean }>(`select verified from contact_points where kind = 'phone' and value = $1`, [from])
    expect(point?.verified).toBe(true)
  })

  it('is stored once when Twilio delivers the same MessageSid twice, and answered the same both times', async () => {
    const params = smsParams({ From: '+447911123451', To: PARTNERSHIP_NUMBER, Body: 'Pothole on the high street LE10 0FR' })
    const first = await postTwilio(ctx, '/channels/twilio/sms', params)
    const second = await postTwilio(ctx, '/channels/twilio/sms', params)
    expectTwiml(first, 200)
    expectTwiml(second, 200)
    expect(second.body).toBe(first.body)
    expect(await ctx.query('select 1 from messages where provider = $1 and provider_message_id = $2', ['twilio', params.MessageSid])).toHaveLength(1)
  })

  it('joins the sender’s open case at the same number, without a second acknowledgement', async () => {
    const from = '+447911123452'
    const first = await text(from, WESTMINSTER_NUMBER, 'Noise from the building site every night')
    const reference = referenceIn(first.body)!
    const again = await text(from, WESTMINSTER_NUMBER, 'It started again at 6am')
    expectTwiml(again, 200)
    expect(again.body).not.toContain('<Message>')
    const [row] = await ctx.query<{ n: number }>('select count(*)::int as n from messages m join cases c on c.id = m.case_id where c.reference = $1', [reference])
    expect(row!.n).toBe(2)
    // another of our numbers is another conversation
    const elsewhere = await text(from, PARTNERSHIP_NUMBER, 'And a missed bin at LE10 0FR')
    expect(referenceIn(elsewhere.body)).not.toBe(reference)
  })

  it('keeps media listed with an MMS on its message', async () => {
    const res = await text('+447911123453', PARTNERSHIP_NUMBER, 'Fly-tipping here LE10 0FR', {
      NumMedia: '2',
      MediaUrl0: 'https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1',
      MediaContentType0: 'image/jpeg',
      MediaUrl1: 'https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME2',
      MediaContentType1: 'image/png'
    })
    const reference = referenceIn(res.body)!
    const [message] = await ctx.query<{ media: unknown }>('select m.media from messages m join cases c on c.id = m.case_id where c.reference = $1', [reference])
    expect(message!.media).toEqual([
      { url: 'https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1', content_type: 'image/jpeg' },
      { url: 'https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME2', content_type: 'image/png' }
    ])
  })

  it('to a number we do not know is kept, and goes to triage with the reason', async () => {
    const res = await text('+447911123454', '+447700900999', 'Missed bin LE10 0FR')
    expectTwiml(res, 200)
    const reference = referenceIn(res.body)!
    expect((await waitPlaced(ctx, reference)).status).toBe('triage')
    expect((await eventsOf(ctx, reference)).find((e) => e.type === 'case.triaged')?.reason).toContain('+447700900999')
  })

  it('is not subject to the per-address rate limit of the web channel', async () => {
    for (let i = 0; i < 4; i++) expectTwiml(await text(`+44791112346${i}`, PARTNERSHIP_NUMBER, `Street light out ${i} LE10 0FR`), 200)
  })
})

describe('a text with no postcode', () => {
  it('gets one question for the postcode, and the answer places the case', async () => {
    const from = '+447911123480'
    const first = await text(from, PARTNERSHIP_NUMBER, 'Bin not collected')
    expectTwiml(first, 200)
    const reference = referenceIn(first.body)!
    expect(first.body).toMatch(/postcode/i)
    // routing cannot place it: a partnership number, no location
    expect((await waitPlaced(ctx, reference)).status).toBe('triage')

    const answer = await text(from, PARTNERSHIP_NUMBER, 'It is le10 0fr')
    expectTwiml(answer, 200)
    expect(answer.body).not.toContain('<Message>') // asked once, and the answer is no new case
    await expect.poll(async () => (await ctx.query<{ status: string; council_gss: string | null; postcode: string }>('select status, council_gss, postcode from cases where reference = $1', [reference]))[0], { timeout: 10_000 })
      .toMatchObject({ status: expect.stringMatching(/^(routed|with_back_office)$/), council_gss: HINCKLEY, postcode: 'LE10 0FR' })
    const events = (await eventsOf(ctx, reference)).map((e) => e.type)
    expect(events.filter((t) => t === 'resident.asked_for_location')).toHaveLength(1)
    expect(events).toContain('case.location_added')
    expect(events.indexOf('case.routed')).toBeGreaterThan(events.indexOf('case.location_added'))
  })
})

describe('STOP, START and HELP', () => {
  it('STOP silences the acknowledgements to that number until START', async () => {
    const from = '+447911123470'
    expectTwiml(await text(from, PARTNERSHIP_NUMBER, 'STOP', { OptOutType: 'STOP' }), 200)
    const [row] = await ctx.query<{ opted_out: boolean }>('select opted_out from sms_opt_outs where phone = $1', [from])
    expect(row?.opted_out).toBe(true)
    const silenced = await text(from, PARTNERSHIP_NUMBER, 'Bin not collected LE10 0FR')
    expectTwiml(silenced, 200)
    expect(silenced.body).not.toContain('<Message>')

    expect((await text(from, PARTNERSHIP_NUMBER, 'start')).body).not.toContain('<Message>')
    expect((await ctx.query<{ opted_out: boolean }>('select opted_out from sms_opt_outs where phone = $1', [from]))[0]?.opted_out).toBe(false)
    const heard = await text(from, WESTMINSTER_NUMBER, 'Council tax question')
    expect(referenceIn(heard.body)).toBeDefined()
  })

  it('HELP gets a short help text and opens no case', async () => {
    const before = await tableCounts(ctx, ['cases'])
    const res = await text('+447911123471', PARTNERSHIP_NUMBER, 'help')
    expectTwiml(res, 200)
    expect(res.body).toContain('STOP')
    expect(await tableCounts(ctx, ['cases'])).toEqual(before)
  })
})

describe('bad input on the SMS route', () => {
  it.each([
    ['an alphanumeric sender', 'COUNCILX'],
    ['a short code', '81234'],
    ['a withheld number', 'anonymous']
  ])('from %s is stored raw and never texted back', async (_what, from) => {
    const params = smsParams({ From: from, To: PARTNERSHIP_NUMBER, Body: 'Missed bin LE10 0FR' })
    const res = await postTwilio(ctx, '/channels/twilio/sms', params)
    expectTwiml(res, 200)
    expect(res.body).not.toContain('<Message>')
    const [row] = await ctx.query<{ sender: string; reported_phone: string | null }>(
      'select m.sender, c.reported_phone from messages m join cases c on c.id = m.case_id where m.provider_message_id = $1',
      [params.MessageSid]
    )
    expect(row).toEqual({ sender: from, reported_phone: null })
  })

  it('stores NUL-free UTF-8: emoji, right-to-left and zero-width text kept, NUL stripped', async () => {
    const body = 'Bin \u0000missed 🗑️ مرحبا a\u200bb LE10 0FR'
    const params = smsParams({ From: '+447911123472', To: PARTNERSHIP_NUMBER, Body: body })
    expectTwiml(await postTwilio(ctx, '/channels/twilio/sms', params), 200)
    const [row] = await ctx.query<{ body: string }>('select body from messages where provider_message_id = $1', [params.MessageSid])
    expect(row!.body).toBe(body.replace('\u0000', ''))
  })

  it('answers 415 TwiML to JSON and 413 TwiML to an oversized body, storing nothing', async () => {
    const before = await tableCounts(ctx, TABLES)
    const params = smsParams({ From: RESIDENT, To: PARTNERSHIP_NUMBER, Body: 'json' })
    expectTwiml(await postTwilio(ctx, '/channels/twilio/sms', params, { body: JSON.stringify(params), contentType: 'application/json' }), 415)
    const huge = smsParams({ From: RESIDENT, To: PARTNERSHIP_NUMBER, Body: 'x'.repeat(ctx.config.BODY_LIMIT_BYTES + 10) })
    expectTwiml(await postTwilio(ctx, '/channels/twilio/sms', huge), 413)
    expect(await tableCounts(ctx, TABLES)).toEqual(before)
  })

  it('keeps __proto__ and constructor as plain data, and refuses repeated known keys with 400 TwiML', async () => {
    const params = smsParams({ From: '+447911123473', To: PARTNERSHIP_NUMBER, Body: 'Missed bin LE10 0FR', __proto__: 'polluted', constructor: 'x', FutureTwilioParam: 'kept' })
    const res = await postTwilio(ctx, '/channels/twilio/sms', params)
    expectTwiml(res, 200)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    const [raw] = await ctx.query<{ payload: Record<string, string> }>('select payload from raw_inbound where provider_message_id = $1', [params.MessageSid])
    expect(raw!.payload).toMatchObject({ __proto__: 'polluted', constructor: 'x', FutureTwilioParam: 'kept' })

    const repeated = smsParams({ From: '+447911123474', To: PARTNERSHIP_NUMBER, Body: ['one', 'two'] })
    expectTwiml(await postTwilio(ctx, '/channels/twilio/sms', repeated), 400)
  })

  it('answers TwiML on an unknown Twilio route too', async () => {
    expectTwiml(await postTwilio(ctx, '/channels/twilio/nowhere', smsParams({ From: RESIDENT, To: PARTNERSHIP_NUMBER })), 404)
  })

  it('refuses a sid that is not Twilio’s', async () => {
    expectTwiml(await text(RESIDENT, PARTNERSHIP_NUMBER, 'hello', { MessageSid: 'not-a-sid', SmsSid: messageSid() }), 400)
  })
})
