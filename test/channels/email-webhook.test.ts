import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caseRow } from '../helpers/context.js'
import { createEmailContext, HINCKLEY_MAILBOX, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'

// POST /channels/email/inbound: a mail provider posts the raw message, authenticated by a
// secret of its own. It goes through the same intake as our SMTP listener; what is refused
// leaves nothing behind, and what is answered 200 is committed.

const SECRET = '0123456789abcdef0123'

let ctx: EmailContext
beforeAll(async () => {
  ctx = await createEmailContext({ EMAIL_INBOUND_SECRETS: `testprovider:${SECRET}` })
})
afterAll(async () => {
  await ctx?.close()
})

let n = 0
function rawMail({ to = TRI_BOROUGH_MAILBOX, text = 'Missed bin collection on Harrow Road W2 1AA.' }: { to?: string; text?: string } = {}): Buffer {
  n++
  return Buffer.from(
    [
      `From: Resident ${n} <webhook.resident.${n}.${Date.now()}@example.org>`,
      `To: ${to}`,
      'Subject: Bins',
      'Date: Mon, 6 Jan 2025 09:00:00 +0000',
      `Message-ID: <webhook-${n}-${Date.now()}@example.org>`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      text,
      ''
    ].join('\r\n')
  )
}

function post(body: Buffer | string, { auth = `Bearer ${SECRET}`, type = 'message/rfc822', query = '' }: { auth?: string | null; type?: string; query?: string } = {}) {
  return ctx.app.inject({
    method: 'POST',
    url: `/channels/email/inbound${query}`,
    headers: { 'content-type': type, ...(auth === null ? {} : { authorization: auth }) },
    payload: body
  })
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const countStored = async () => (await ctx.query<{ n: number }>('select count(*)::int as n from inbound_emails'))[0]!.n
const storedAs = (raw: Buffer) =>
  ctx.query<{ source: string; recipients: string[]; state: string }>('select source, recipients, state from inbound_emails where sha256 = $1', [sha256(raw)])
const messagesOf = (raw: Buffer) =>
  ctx.query<{ recipient: string; reference: string; contacted_address: string | null }>(
    `select m.recipient, c.reference, c.contacted_address from inbound_emails e join messages m on m.raw_inbound_id = e.raw_inbound_id join cases c on c.id = m.case_id where e.sha256 = $1`,
    [sha256(raw)]
  )

describe('refused, with nothing stored', () => {
  it.each([
    ['no Authorization', null],
    ['a wrong secret', 'Bearer 0123456789abcdef0124'],
    ['the secret without Bearer', SECRET],
    ['the provider name as the secret', 'Bearer testprovider']
  ])('401 for %s', async (_what, auth) => {
    const before = await countStored()
    const res = await post(rawMail(), { auth })
    expect(res.statusCode).toBe(401)
    expect(res.json()).toMatchObject({ code: 'unauthorized' })
    expect(await countStored()).toBe(before)
  })

  it('415 for a JSON body', async () => {
    const before = await countStored()
    const res = await post(JSON.stringify({ from: 'a@example.org', to: TRI_BOROUGH_MAILBOX, text: 'hello' }), { type: 'application/json' })
    expect(res.statusCode).toBe(415)
    expect(res.json()).toMatchObject({ code: 'unsupported_media_type' })
    expect(await countStored()).toBe(before)
  })

  it('413 for a body over EMAIL_MAX_BYTES', async () => {
    const before = await countStored()
    const head = rawMail()
    const big = Buffer.concat([head, Buffer.alloc(ctx.config.EMAIL_MAX_BYTES + 1 - head.length, 'a')])
    const res = await post(big)
    expect(res.statusCode).toBe(413)
    expect(res.json()).toMatchObject({ code: 'payload_too_large' })
    expect(await countStored()).toBe(before)
  })

  // a reply address counts only while its case exists, as at the SMTP listener (550 there):
  // a made-up one must not open a case of no council, acknowledged from that address
  it('422 for a reply address of no case', async () => {
    const before = await countStored()
    const res = await post(rawMail({ to: `reply+AAAAAAAAAAAAAAAAAAAAAAAA@${ctx.config.EMAIL_DOMAIN}` }))
    expect(res.statusCode).toBe(422)
    expect(await countStored()).toBe(before)
  })

  it('422 for a message to no address of ours', async () => {
    const before = await countStored()
    const res = await post(rawMail({ to: 'someone@elsewhere.example' }))
    expect(res.statusCode).toBe(422)
    expect(res.json()).toMatchObject({ code: 'unknown_recipient' })
    expect(await countStored()).toBe(before)
  })
})

describe('accepted', () => {
  it('opens a case for a good message, and takes the same bytes again as a duplicate', async () => {
    const raw = rawMail()
    const first = await post(raw)
    expect(first.statusCode).toBe(200)
    const { outcome, reference } = first.json<{ outcome: string; reference: string }>()
    expect(outcome).toBe('accepted')
    expect(await caseRow(ctx, reference)).toBeDefined()
    expect(await storedAs(raw)).toEqual([{ source: 'http:testprovider', recipients: [TRI_BOROUGH_MAILBOX], state: 'accepted' }])

    // the provider retries (it never saw our answer): the same case, still one message
    const again = await post(raw)
    expect(again.statusCode).toBe(200)
    expect(again.json()).toEqual({ outcome: 'duplicate', reference })
    expect(await messagesOf(raw)).toHaveLength(1)
    expect(await storedAs(raw)).toHaveLength(1)
  })

  it('takes the mailbox from ?to= over the headers', async () => {
    // addressed in its headers to one council, delivered by the provider to another mailbox
    const raw = rawMail({ to: TRI_BOROUGH_MAILBOX, text: 'Pothole on the A47 near LE10 0AA.' })
    const res = await post(raw, { query: `?to=${encodeURIComponent(HINCKLEY_MAILBOX)}` })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ outcome: 'accepted' })
    expect(await storedAs(raw)).toEqual([{ source: 'http:testprovider', recipients: [HINCKLEY_MAILBOX], state: 'accepted' }])
    expect(await messagesOf(raw)).toEqual([expect.objectContaining({ recipient: HINCKLEY_MAILBOX, contacted_address: HINCKLEY_MAILBOX })])

    // and a message addressed elsewhere is taken when ?to= names a mailbox of ours
    const elsewhere = rawMail({ to: 'someone@elsewhere.example' })
    const taken = await post(elsewhere, { query: `?to=${encodeURIComponent(HINCKLEY_MAILBOX)}` })
    expect(taken.statusCode).toBe(200)
    expect((await messagesOf(elsewhere))[0]?.recipient).toBe(HINCKLEY_MAILBOX)
  })
})
