import twilio from 'twilio'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { caseRow, createTestContext, OPERATOR_KEY, postContact, waitFor, type TestContext } from '../helpers/context.js'
import { adminRequest, startReceiver, useWebhookDestination, waitDelivery, type Receiver } from '../helpers/delivery.js'
import { formBody, postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'
import { TRI_BOROUGH_MAILBOX } from '../helpers/email.js'
import { WESTMINSTER } from '../helpers/councils.js'

let ctx: TestContext
const EMAIL_SECRET = 'hygiene-secret-0123456789'
beforeAll(async () => {
  // workers on: the admin listings below need cases that routing placed or gave up on
  ctx = await createTestContext({ DELIVERY_ATTEMPTS: 2, TWILIO_AUTH_TOKEN: TWILIO_TOKEN, EMAIL_INBOUND_SECRETS: `hygiene:${EMAIL_SECRET}` }, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

const valid = { name: 'Ada Clean', email: 'ada.clean@example.com', postcode: 'SW1A 1AA', description: 'Overflowing litter bin by the bus stop' }

async function stored() {
  const [row] = await ctx.query<{ raw: number; cases: number; residents: number; messages: number }>(
    `select (select count(*)::int from raw_inbound) as raw, (select count(*)::int from cases) as cases,
            (select count(*)::int from residents) as residents, (select count(*)::int from messages) as messages`
  )
  return row!
}

function lookup(reference: string, contact: string) {
  return ctx.app.inject({ method: 'GET', url: `/v1/contacts/${reference}?contact=${encodeURIComponent(contact)}` })
}

describe('control characters and malformed references are refused before anything is stored or looked up', () => {
  let known: string
  beforeAll(async () => {
    const res = await postContact(ctx, { ...valid, email: 'known@example.com' })
    expect(res.statusCode, res.body).toBe(202)
    known = res.json().reference
  })

  const cases: [string, () => ReturnType<typeof postContact>, string, RegExp][] = [
    ['NUL in the email', () => postContact(ctx, { ...valid, email: 'ada\u0000@example.com' }), 'email', /email must not contain .*control characters/],
    ['NUL in the name', () => postContact(ctx, { ...valid, name: 'Ada\u0000Clean' }), 'name', /name must not contain .*control characters/],
    ['NUL in the description', () => postContact(ctx, { ...valid, description: 'bin\u0000 overflowing' }), 'description', /description must not contain control characters/],
    ['ESC (U+001B) in the postcode', () => postContact(ctx, { ...valid, postcode: 'SW1A\u001b1AA' }), 'postcode', /control characters/],
    ['DEL (U+007F) in the phone', () => postContact(ctx, { ...valid, phone: '07911\u007f123456' }), 'phone', /control characters/],
    ['a newline in the name', () => postContact(ctx, { ...valid, name: 'Ada\nBcc: someone' }), 'name', /line breaks/],
    ['a newline in the email', () => postContact(ctx, { ...valid, email: 'ada@example.com\nbcc@example.com' }), 'email', /line breaks/],
    ['a vertical tab in the description', () => postContact(ctx, { ...valid, description: 'bin\u000boverflowing' }), 'description', /control characters/],
    ['NUL in the service code', () => postContact(ctx, { ...valid, service_code: 'missed_bin\u0000' }), 'service_code', /control characters/],
    ['a malformed reference in the body', () => postContact(ctx, { ...valid, reference: 'SB-IIII-0000-0000' }), 'reference', /reference must be a case reference such as SB-/],
    ['a reference with a NUL in the body', () => postContact(ctx, { ...valid, reference: 'SB-0000-0000-000\u0000' }), 'reference', /must be a case reference/],
    ['NUL in the lookup contact', () => lookup(known, 'known\u0000@example.com'), 'contact', /contact must not contain .*control characters/],
    ['a newline in the lookup contact', () => lookup(known, 'known@example.com\n'), 'contact', /line breaks/],
    ['a malformed reference in the lookup', () => lookup('SB-12', 'known@example.com'), 'reference', /must be a case reference/],
    ['a NUL in the lookup reference', () => ctx.app.inject({ method: 'GET', url: '/v1/contacts/SB-0000-0000-000%00?contact=known%40example.com' }), 'reference', /must be a case reference/],
    ['a malformed reference in the admin route', () => adminRequest(ctx, 'GET', '/v1/admin/cases/not-a-reference'), 'reference', /must be a case reference/],
    ['an overlong reference in the admin route', () => adminRequest(ctx, 'GET', `/v1/admin/cases/SB-0000-0000-0000-${'0'.repeat(40)}`), 'reference', /must be a case reference/]
  ]
  for (const [what, send, field, message] of cases) {
    it(`${what} → 400 validation_failed (${field})`, async () => {
      const before = await stored()
      const res = await send()
      expect(res.statusCode, res.body).toBe(400)
      const body = res.json() as { code: string; field: string; message: string }
      expect(body).toMatchObject({ code: 'validation_failed', field })
      expect(body.message).toMatch(message)
      // said in words, not as the regex
      expect(body.message).not.toContain('pattern')
      expect(await stored()).toEqual(before)
    })
  }

  it('still answers 404, not 400, for a well-formed reference that matches no case, in either case', async () => {
    for (const res of [
      await lookup('SB-0000-0000-0000', 'known@example.com'),
      await lookup('sb-0000-0000-0000', 'known@example.com'),
      await adminRequest(ctx, 'GET', '/v1/admin/cases/SB-0000-0000-0000'),
      await adminRequest(ctx, 'GET', '/v1/admin/cases/sb-zzzz-0000-0000')
    ]) {
      expect(res.statusCode, res.body).toBe(404)
      expect(res.json().code).toBe('not_found')
    }
    // and the real case is found by its reference in lower case too
    expect((await lookup(known.toLowerCase(), 'known@example.com')).statusCode).toBe(200)
    expect((await adminRequest(ctx, 'GET', `/v1/admin/cases/${known.toLowerCase()}`)).statusCode).toBe(200)
  })

  it('accepts a description with tabs, LF and CRLF line breaks and stores it with LF only', async () => {
    const description = 'Overflowing bin\r\nNear the bus stop\n\tOpposite the library\rSince Monday'
    const res = await postContact(ctx, { ...valid, email: 'lines@example.com', description })
    expect(res.statusCode, res.body).toBe(202)
    const { reference } = res.json() as { reference: string }
    const [c] = await ctx.query<{ description: string }>('select description from cases where reference = $1', [reference])
    expect(c!.description).toBe('Overflowing bin\nNear the bus stop\n\tOpposite the library\nSince Monday')
    const [m] = await ctx.query<{ body: string }>('select m.body from messages m join cases c on c.id = m.case_id where c.reference = $1', [reference])
    expect(m!.body).toBe(c!.description)
  })

  it('refuses only the one contact with a NUL in a burst of concurrent contacts; the others are stored', async () => {
    const before = await stored()
    const bodies = Array.from({ length: 12 }, (_, i) => ({ ...valid, email: i === 5 ? `burst${i}\u0000@example.com` : `burst${i}@example.com` }))
    const answers = await Promise.all(bodies.map((b) => postContact(ctx, b)))
    expect(answers.map((a) => a.statusCode)).toEqual(bodies.map((_, i) => (i === 5 ? 400 : 202)))
    expect(answers[5]!.json()).toMatchObject({ code: 'validation_failed', field: 'email' })
    const after = await stored()
    expect(after.cases - before.cases).toBe(11)
    expect(after.raw - before.raw).toBe(11)
    const refs = answers.filter((a) => a.statusCode === 202).map((a) => (a.json() as { reference: string }).reference)
    for (const ref of refs) expect(await caseRow(ctx, ref)).toBeDefined()
  })
})

describe('querystrings and params are coerced to their types; JSON bodies are not', () => {
  const receivers: Receiver[] = []
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.close()
  })

  it('lists at most ?limit= triage cases, and refuses a limit that is not a positive integer', async () => {
    // a missed bin in SE12 (an outcode two councils share, no unit data) goes to triage
    const refs: string[] = []
    for (let i = 0; i < 7; i++) {
      const res = await postContact(ctx, { email: `triage${i}@example.com`, postcode: 'SE12 8AA', service_code: 'missed_bin' })
      expect(res.statusCode, res.body).toBe(202)
      refs.push(res.json().reference)
    }
    for (const ref of refs) await waitFor(async () => (await caseRow(ctx, ref))?.status === 'triage', 15_000, `${ref} in triage`)

    const all = await adminRequest(ctx, 'GET', '/v1/admin/triage')
    expect(all.statusCode, all.body).toBe(200)
    expect((all.json() as unknown[]).length).toBeGreaterThanOrEqual(7)
    const five = await adminRequest(ctx, 'GET', '/v1/admin/triage?limit=5')
    expect(five.statusCode, five.body).toBe(200)
    expect(five.json()).toHaveLength(5)

    for (const [url, field] of [
      ['/v1/admin/triage?limit=abc', 'limit'],
      ['/v1/admin/triage?limit=0', 'limit'],
      ['/v1/admin/triage?limit=2.5', 'limit'],
      ['/v1/admin/triage?limit=501', 'limit'],
      ['/v1/admin/deliveries?state=lost', 'state']
    ] as const) {
      const res = await adminRequest(ctx, 'GET', url)
      expect(res.statusCode, `${url}: ${res.body}`).toBe(400)
      expect(res.json()).toMatchObject({ code: 'validation_failed', field })
    }
  })

  it('lists at most ?limit= dead deliveries', async () => {
    // a back office that refuses every case (410 is permanent): each delivery is dead-lettered
    const gone = await startReceiver(() => 410)
    receivers.push(gone)
    await useWebhookDestination(ctx, { council: WESTMINSTER, service: 'missed_bin', url: gone.url, secret: 'whsec_input_hygiene_0123456789' })
    const refs: string[] = []
    for (let i = 0; i < 3; i++) {
      const res = await postContact(ctx, { email: `dead${i}@example.com`, postcode: 'SW1A 1AA', service_code: 'missed_bin' })
      expect(res.statusCode, res.body).toBe(202)
      refs.push(res.json().reference)
    }
    for (const ref of refs) await waitDelivery(ctx, ref, ['dead'])

    const two = await adminRequest(ctx, 'GET', '/v1/admin/deliveries?state=dead&limit=2')
    expect(two.statusCode, two.body).toBe(200)
    const rows = two.json() as { state: string; last_status: number }[]
    expect(rows).toHaveLength(2)
    expect(rows.every((r) => r.state === 'dead' && r.last_status === 410)).toBe(true)
    expect(((await adminRequest(ctx, 'GET', '/v1/admin/deliveries?state=dead')).json() as unknown[]).length).toBeGreaterThanOrEqual(3)
  })

  it('still refuses a JSON body whose number is sent as a string', async () => {
    const before = await stored()
    const res = await postContact(ctx, { ...valid, postcode: undefined, lat: '51.5', long: '-0.12' })
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json()).toMatchObject({ code: 'validation_failed', field: 'lat' })
    expect(await stored()).toEqual(before)
  })

  it('keeps checking formats in params (a delivery id must be a uuid)', async () => {
    const res = await adminRequest(ctx, 'POST', '/v1/admin/deliveries/not-a-uuid/retry')
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json()).toMatchObject({ code: 'validation_failed', field: 'id' })
  })
})

// JSON text as a client sends it: JSON.stringify writes a lone surrogate as the escape \ud800
const postRaw = (json: string) => ctx.app.inject({ method: 'POST', url: '/v1/contacts', headers: { 'content-type': 'application/json' }, payload: json })

describe('a lone UTF-16 surrogate is refused wherever JSON text can carry one; whole characters are kept', () => {
  const json = (over: Record<string, unknown>) => JSON.stringify({ ...valid, ...over })
  const cases: [string, () => ReturnType<typeof postRaw>, string][] = [
    ['a high surrogate alone in the description', () => postRaw(json({ description: 'bin \ud800 overflowing' })), 'description'],
    ['a low surrogate alone at the end of the name', () => postRaw(json({ name: 'Ada \udfff' })), 'name'],
    ['a pair the wrong way round in the postcode', () => postRaw(json({ postcode: 'SW1A\ude00\ud83d1AA' })), 'postcode'],
    ['an upper-case escape in the email', () => postRaw(json({ email: 'x' }).replace('"x"', '"ada\\uD800@example.com"')), 'email'],
    ['a lone surrogate in a property name', () => postRaw(json({ '\ud800': 'x' })), '\ufffd'],
    ['a lone surrogate in a list of contacts (operator erasure)', () => adminJson('/v1/admin/residents/erase', { contacts: ['ada@example.com', '\ud800'], reason: 'request by post' }), 'contacts.1']
  ]
  for (const [what, send, field] of cases) {
    it(`${what} → 400 validation_failed (${field}), nothing stored`, async () => {
      const before = await stored()
      const res = await send()
      expect(res.statusCode, res.body).toBe(400)
      expect(res.json()).toMatchObject({ code: 'validation_failed', field })
      expect(res.json().message).toMatch(/surrogate/)
      expect(await stored()).toEqual(before)
    })
  }

  it('keeps an emoji sent as an escaped surrogate pair, and a backslash-u the resident typed', async () => {
    const res = await postRaw(json({ email: 'pair@example.com', description: 'Sx' }).replace('"Sx"', '"Bin \\ud83d\\uddd1 gone, and the sign says \\\\ud800"'))
    expect(res.statusCode, res.body).toBe(202)
    const [c] = await ctx.query<{ description: string }>('select description from cases where reference = $1', [res.json().reference])
    expect(c!.description).toBe('Bin \u{1F5D1} gone, and the sign says \\ud800')
  })

  it('takes text messages whose form carries a percent-encoded or raw-byte surrogate as well-formed text (no 5xx)', async () => {
    // %ED%A0%80 is not UTF-8, so the form keeps it as the text sent; raw bytes that are not
    // UTF-8 become U+FFFD: a form cannot carry a lone surrogate. Each is signed over the form
    // as the server reads it, as Twilio signs what it sends.
    const percent = smsParams({ From: '+447911000333', To: '+447700900100', Body: 'Bin %ED%A0%80 SW1A 2AA' })
    const encoded = formBody(percent).replace('Body=Bin+%25ED%25A0%2580+SW1A+2AA', 'Body=Bin+%ED%A0%80+SW1A+2AA')
    expect(encoded).toContain('Body=Bin+%ED%A0%80')
    const first = await postTwilio(ctx, '/channels/twilio/sms', percent, { body: encoded })
    expect(first.statusCode, first.body).toBe(200)

    const bytes = smsParams({ From: '+447911000333', To: '+447700900100', Body: 'Bin \ufffd\ufffd\ufffd SW1A 2AA' })
    const payload = Buffer.from(formBody(bytes).replace(/Body=[^&]*/, 'Body=Bin+\u0000+SW1A+2AA'))
    const nul = payload.indexOf(0)
    const raw = Buffer.concat([payload.subarray(0, nul), Buffer.from([0xed, 0xa0, 0x80]), payload.subarray(nul + 1)])
    const signature = twilio.getExpectedTwilioSignature(TWILIO_TOKEN, `${ctx.config.PUBLIC_BASE_URL}/channels/twilio/sms`, bytes)
    const second = await ctx.app.inject({ method: 'POST', url: '/channels/twilio/sms', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, payload: raw })
    expect(second.statusCode, second.body).toBe(200)

    const rows = await ctx.query<{ body: string }>(`select m.body from messages m join cases c on c.id = m.case_id where c.reported_phone = '+447911000333' and m.direction = 'inbound'`)
    expect(rows.map((r) => r.body).sort()).toEqual(['Bin %ED%A0%80 SW1A 2AA', 'Bin \ufffd\ufffd\ufffd SW1A 2AA'])
  })

  it('takes mail whose charsets decode to half a surrogate pair, or whose long subject ends in an emoji, with U+FFFD for the half', async () => {
    // UTF-16 and UTF-7 can spell a lone surrogate; Postgres refused it in the intake's jsonb,
    // so the provider's post was a 500 and the sender's server would retry for ever
    const lone = `=?UTF-16BE?B?${Buffer.from([0xd8, 0x00, 0x00, 0x41]).toString('base64')}?=`
    const mail = (id: string, headers: string, body: string) =>
      Buffer.from(`From: Ada <ada.${id}@example.org>\r\nTo: ${TRI_BOROUGH_MAILBOX}\r\nMessage-ID: <${id}@example.org>\r\nDate: Mon, 1 Dec 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n${headers}\r\n${body}\r\n`)
    const plain = 'Content-Type: text/plain; charset=utf-8\r\n'
    const attached = (disposition: string) =>
      `--b\r\nContent-Type: text/plain\r\n\r\nBin at SW1A 1AA\r\n--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; ${disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--`
    const mails: [string, Buffer][] = [
      ['subject', mail('hyg-subject', `Subject: Bin ${lone}\r\n${plain}`, 'Bin overflowing at SW1A 1AA')],
      ['emoji at 250', mail('hyg-emoji', `Subject: ${'a'.repeat(249)}=?UTF-8?B?${Buffer.from('\u{1F600} bin').toString('base64')}?=\r\n${plain}`, 'Bin overflowing at SW1A 1AA')],
      ['sender name', mail('hyg-name', `Subject: Bin\r\n${plain}`.replace('Subject', `Sender: ${lone} <ada@example.org>\r\nSubject`), 'Bin overflowing at SW1A 1AA').toString().replace('From: Ada', `From: ${lone}`)],
      ['utf-7 body', mail('hyg-utf7', 'Subject: Bin\r\nContent-Type: text/plain; charset=utf-7\r\n', 'Bin +2AA- overflowing at SW1A 1AA')],
      ['filename', mail('hyg-file', 'Subject: Bin\r\nContent-Type: multipart/mixed; boundary=b\r\n', attached(`filename="${lone}.png"`))],
      ['filename*', mail('hyg-file2', 'Subject: Bin\r\nContent-Type: multipart/mixed; boundary=b\r\n', attached("filename*=utf-16be''%D8%00%00A%00.%00p%00n%00g"))]
    ].map(([what, raw]) => [what as string, Buffer.isBuffer(raw) ? raw : Buffer.from(raw as string)])
    const reference: Record<string, string> = {}
    for (const [what, raw] of mails) {
      const res = await ctx.app.inject({ method: 'POST', url: '/channels/email/inbound', headers: { authorization: `Bearer ${EMAIL_SECRET}`, 'content-type': 'message/rfc822' }, payload: raw })
      expect(res.statusCode, `${what}: ${res.body}`).toBe(200)
      expect(res.json().outcome, what).toBe('accepted')
      reference[what] = res.json().reference
    }
    const inbound = (what: string) =>
      ctx.query<{ subject: string; filename: string | null }>(
        `select m.subject, mm.filename from messages m join cases c on c.id = m.case_id left join message_media mm on mm.message_id = m.id
          where c.reference = $1 and m.direction = 'inbound'`,
        [reference[what]]
      )
    expect((await inbound('subject'))[0]?.subject).toBe('Bin \ufffdA')
    // the mail's record keeps 250 units of the subject, cut between characters: the emoji
    // that would have been split is left out whole
    const [kept] = await ctx.query<{ subject: string }>(
      'select e.subject from inbound_emails e join raw_inbound ri on ri.id = e.raw_inbound_id join cases c on c.id = ri.case_id where c.reference = $1',
      [reference['emoji at 250']]
    )
    expect(kept?.subject).toBe('a'.repeat(249))
    expect((await inbound('filename'))[0]?.filename).toBe('\ufffdA.png')
    expect((await inbound('filename*'))[0]?.filename).toBe('\ufffdA.png')
  })

  it('answers a querystring with a percent-encoded surrogate without a 5xx', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/v1/contacts/SB-0000-0000-0000?contact=ada%ED%A0%80%40example.com' })
    expect(res.statusCode, res.body).toBe(404)
  })
})

function adminJson(url: string, body: unknown) {
  return ctx.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) })
}

describe('numbers in querystrings and paths are digits, within their bounds', () => {
  for (const value of ['1e400', 'Infinity', '99999999999999999999', '0x10', '1e2', ' 5', '-1']) {
    it(`refuses ?limit=${value} naming the limit and its bounds`, async () => {
      const res = await adminRequest(ctx, 'GET', `/v1/admin/triage?limit=${encodeURIComponent(value)}`)
      expect(res.statusCode, res.body).toBe(400)
      expect(res.json()).toMatchObject({ code: 'validation_failed', field: 'limit' })
      expect(res.json().message).toMatch(/^limit must be (a whole number from 1 to 500, in digits|>= 1)$/)
    })
  }

  it('answers a path the router cannot read (not UTF-8, or a part over 100 characters) with 400 naming the path', async () => {
    for (const url of ['/v1/admin/cases/SB-%ED%A0%80', '/v1/contacts/%ff?contact=ada%40example.com', `/v1/admin/messages/${'9'.repeat(101)}/html`]) {
      const res = await adminRequest(ctx, 'GET', url)
      expect(res.statusCode, `${url}: ${res.body}`).toBe(400)
      expect(res.json()).toMatchObject({ code: 'validation_failed', field: 'path' })
      // the path is not echoed back
      expect(res.body).not.toContain('%ED')
      expect(res.headers['x-request-id']).toBe(res.json().request_id)
    }
  })

  it('refuses an id past 2^53 - 1 naming it, and looks up the largest one there is', async () => {
    const over = await adminRequest(ctx, 'GET', '/v1/admin/messages/99999999999999999999/html')
    expect(over.statusCode, over.body).toBe(400)
    expect(over.json()).toMatchObject({ code: 'validation_failed', field: 'id' })
    const largest = await adminRequest(ctx, 'GET', `/v1/admin/messages/${Number.MAX_SAFE_INTEGER}/html`)
    expect(largest.statusCode, largest.body).toBe(404)
  })
})
