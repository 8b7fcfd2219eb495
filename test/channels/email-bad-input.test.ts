import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { simpleParser } from 'mailparser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OPERATOR_KEY, waitFor } from '../helpers/context.js'
import { createEmailContext, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'

// Mail from strangers is hostile or broken as often as not. Whatever arrives, nothing is
// lost (the bytes are kept whole, on a case or in quarantine), nothing stored is corrupted,
// nothing in it reaches a header we write or a page an agent opens, and the listener stays up.

let ctx: EmailContext
beforeAll(async () => {
  // workers: the acknowledgement of the CR/LF test has to really go out through the relay
  ctx = await createEmailContext({}, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

const operator = { authorization: `Bearer ${OPERATOR_KEY}` }
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n')

let n = 0
const resident = () => `resident.${++n}.${Date.now()}@example.org`

/** A raw message built by hand with CRLF line ends, so SMTP carries it byte for byte. */
function rawMail(headers: string[], body: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([...headers, '', ''].join('\r\n'), 'utf8'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), Buffer.from('\r\n')])
}

const personHeaders = (from: string | null, subject: string) => [
  ...(from ? [`From: ${from}`] : []),
  `To: ${TRI_BOROUGH_MAILBOX}`,
  `Subject: ${subject}`,
  'Date: Mon, 6 Jan 2025 09:00:00 +0000',
  `Message-ID: <bad-input-${++n}-${Date.now()}@example.org>`,
  'MIME-Version: 1.0'
]

function multipart(headers: string[], parts: { headers: string[]; body: string }[], closed = true): Buffer {
  const boundary = 'b0undary-x'
  const body = parts.map((p) => [`--${boundary}`, ...p.headers, '', p.body].join('\r\n')).join('\r\n') + (closed ? `\r\n--${boundary}--` : '')
  return rawMail([...headers, `Content-Type: multipart/mixed; boundary="${boundary}"`], body)
}
const textPart = (text: string) => ({ headers: ['Content-Type: text/plain; charset=utf-8'], body: text })
const filePart = (filename: string, type: string, bytes: Buffer) => ({
  headers: [`Content-Type: ${type}`, 'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename="${filename}"`],
  body: bytes.toString('base64').replace(/.{76}/g, '$&\r\n')
})

/** Bytes that look like nothing, the same on every run (mulberry32), in CRLF lines of 76. */
function garbage(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length)
  let a = seed
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    const byte = (t ^ (t >>> 14)) & 0xff
    // line ends are the transport's: keep them out of the noise so the bytes stay as sent
    out[i] = byte === 0x0d || byte === 0x0a ? 0x20 : byte
  }
  const lines: Buffer[] = []
  for (let i = 0; i < out.length; i += 76) lines.push(out.subarray(i, i + 76), Buffer.from('\r\n'))
  return Buffer.concat(lines)
}

interface Stored {
  id: number
  state: string
  reason: string | null
  bytes: Buffer | null
  subject: string | null
}
async function storedAs(raw: Buffer): Promise<Stored[]> {
  return ctx.query<Stored>(`select id, state, reason, bytes, subject from inbound_emails where sha256 = $1`, [sha256(raw)])
}

/** The message a mail with these bytes became, with its case reference. */
async function messageOf(raw: Buffer) {
  const rows = await ctx.query<{ id: number; reference: string; body: string; subject: string | null; html: string | null; attachments_omitted: number }>(
    `select m.id, c.reference, m.body, m.subject, m.html, m.attachments_omitted
       from inbound_emails e join messages m on m.raw_inbound_id = e.raw_inbound_id join cases c on c.id = m.case_id
      where e.sha256 = $1`,
    [sha256(raw)]
  )
  return rows[0]
}

const countStored = async () => (await ctx.query<{ n: number }>('select count(*)::int as n from inbound_emails'))[0]!.n

async function expectListenerUp() {
  const sent = await ctx.send({ from: resident(), to: TRI_BOROUGH_MAILBOX, subject: 'Still there?', text: 'Graffiti on the bus shelter, W2 1AA.' })
  expect(sent.response).toMatch(/^250 /)
}

/**
 * One SMTP conversation by hand, for what nodemailer will not do: a message that does not
 * declare its SIZE, so the listener only learns it is too big while reading it.
 */
function smtpWithoutSize(port: number, to: string, data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const steps = ['EHLO client.example.org', 'MAIL FROM:<big@example.org>', `RCPT TO:<${to}>`, 'DATA']
    let buffered = ''
    let sentData = false
    socket.on('error', reject)
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1')
      // a reply is complete at a line "NNN text" (a hyphen after the code means more follow)
      const lines = buffered.split('\r\n')
      buffered = lines.pop()!
      for (const line of lines) {
        if (!/^\d{3} /.test(line)) continue
        const code = line.slice(0, 3)
        if (sentData) {
          socket.end('QUIT\r\n')
          return resolve(line)
        }
        if (code === '354') {
          sentData = true
          socket.write(data)
          socket.write('\r\n.\r\n')
        } else if (/^[23]/.test(code) && steps.length) socket.write(`${steps.shift()}\r\n`)
        else {
          socket.destroy()
          return reject(new Error(`unexpected SMTP reply: ${line}`))
        }
      }
    })
  })
}

describe('garbage MIME', () => {
  it('keeps random bytes whole and answers 250; the listener stays up', async () => {
    const raw = garbage(8_000, 42)
    const answer = await ctx.sendRaw(raw, { to: [TRI_BOROUGH_MAILBOX] })
    expect(answer.response).toMatch(/^250 /)
    const [row] = await storedAs(raw)
    expect(row?.bytes?.equals(raw)).toBe(true)
    expect(['quarantined', 'accepted']).toContain(row!.state)
    await expectListenerUp()
  })

  it('puts an unterminated multipart on a case with its text, and keeps the bytes whole', async () => {
    const from = resident()
    // the closing boundary never comes: the message stops inside a base64 attachment
    const raw = multipart(personHeaders(from, 'Cut off'), [textPart('Overflowing bin on Edgware Road W2 1AA.'), { ...filePart('photo.pdf', 'application/pdf', PDF), body: PDF.toString('base64').slice(0, 30) }], false)
    expect((await ctx.sendRaw(raw, { from, to: [TRI_BOROUGH_MAILBOX] })).response).toMatch(/^250 /)
    const [row] = await storedAs(raw)
    expect(row?.bytes?.equals(raw)).toBe(true)
    expect(row?.state).toBe('accepted')
    expect((await messageOf(raw))?.body).toContain('Overflowing bin on Edgware Road W2 1AA.')
    await expectListenerUp()
  })
})

describe('too big', () => {
  const thirtyMb = () => Buffer.concat([rawMail(personHeaders(resident(), 'Huge'), ''), Buffer.alloc(30 * 1024 * 1024, 'a'.repeat(76) + '\r\n')])

  it('refuses a 30 MB message with 552 and stores nothing', async () => {
    expect(ctx.config.EMAIL_MAX_BYTES).toBe(25 * 1024 * 1024)
    const before = await countStored()
    await expect(ctx.sendRaw(thirtyMb(), { to: [TRI_BOROUGH_MAILBOX] })).rejects.toMatchObject({ responseCode: 552 })
    expect(await countStored()).toBe(before)
    await expectListenerUp()
  })

  it('refuses it with 552 too when the sender did not declare its size', async () => {
    const before = await countStored()
    expect(await smtpWithoutSize(ctx.smtp.port, TRI_BOROUGH_MAILBOX, thirtyMb())).toMatch(/^552 /)
    expect(await countStored()).toBe(before)
    await expectListenerUp()
  })
})

describe('attachments', () => {
  it('keeps the first 50 of 500 attachments, counts the 450 others, and keeps the raw mail whole', async () => {
    const files = Array.from({ length: 500 }, (_, i) => filePart(`note-${i + 1}.txt`, 'text/plain', Buffer.from(`Note number ${i + 1}\n`)))
    const raw = multipart(personHeaders(resident(), 'Many files'), [textPart('Photos of the pothole on Praed Street W2 1AA.'), ...files])
    expect((await ctx.sendRaw(raw, { to: [TRI_BOROUGH_MAILBOX] })).response).toMatch(/^250 /)
    const [row] = await storedAs(raw)
    expect(row?.bytes?.equals(raw)).toBe(true)
    const message = await messageOf(raw)
    expect(message?.attachments_omitted).toBe(450)
    const media = await ctx.query<{ filename: string; state: string }>('select filename, state from message_media where message_id = $1 order by position', [message!.id])
    expect(media).toHaveLength(ctx.config.EMAIL_MAX_ATTACHMENTS)
    expect(media.map((m) => m.filename)).toEqual(Array.from({ length: 50 }, (_, i) => `note-${i + 1}.txt`))
    expect(media.every((m) => m.state === 'stored')).toBe(true)
    // what a supervisor sees of it
    const listed = await ctx.app.inject({ method: 'GET', url: `/v1/admin/cases/${message!.reference}/messages`, headers: operator })
    expect(listed.statusCode).toBe(200)
    const [shown] = listed.json<{ attachments_omitted: number; attachments: unknown[] }[]>()
    expect(shown).toMatchObject({ attachments_omitted: 450 })
    expect(shown!.attachments).toHaveLength(50)
  })

  it('stores "../../etc/passwd.pdf" as passwd.pdf under a generated key, and serves it only as a download', async () => {
    const raw = multipart(personHeaders(resident(), 'Evidence'), [textPart('Letter about the parking fine attached.'), filePart('../../etc/passwd.pdf', 'application/pdf', PDF)])
    expect((await ctx.sendRaw(raw, { to: [TRI_BOROUGH_MAILBOX] })).response).toMatch(/^250 /)
    const message = await messageOf(raw)
    const [media] = await ctx.query<{ filename: string; storage_key: string; state: string }>('select filename, storage_key, state from message_media where message_id = $1', [message!.id])
    expect(media).toMatchObject({ filename: 'passwd.pdf', state: 'stored' })
    expect(media!.storage_key).toMatch(UUID)

    const download = await ctx.app.inject({ method: 'GET', url: `/v1/admin/attachments/${media!.storage_key}`, headers: operator })
    expect(download.statusCode).toBe(200)
    expect(download.headers['content-disposition']).toMatch(/^attachment; filename="passwd\.pdf"/)
    expect(download.headers['x-content-type-options']).toBe('nosniff')
    expect(download.rawPayload.equals(PDF)).toBe(true)
    const anonymous = await ctx.app.inject({ method: 'GET', url: `/v1/admin/attachments/${media!.storage_key}` })
    expect(anonymous.statusCode).toBe(401)
  })
})

describe('hostile content', () => {
  it('shows text by default and serves HTML without script or remote images, under a Content-Security-Policy', async () => {
    const html =
      '<html><head><script>alert(document.cookie)</script></head><body><p>Fly-tipping behind the library, W2 1AA.</p>' +
      '<img src="https://tracker.example/pixel.gif?who=resident" onerror="alert(2)"><a href="javascript:alert(3)">details</a>' +
      '<p style="background:url(https://tracker.example/bg.gif)">Styled</p><iframe src="https://tracker.example/frame"></iframe>' +
      '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=" alt="svg"><img src="cid:map@example.org" alt="map"></body></html>'
    const raw = rawMail([...personHeaders(resident(), 'Rubbish'), 'Content-Type: text/html; charset=utf-8'], html)
    expect((await ctx.sendRaw(raw, { to: [TRI_BOROUGH_MAILBOX] })).response).toMatch(/^250 /)
    const message = await messageOf(raw)

    const listed = await ctx.app.inject({ method: 'GET', url: `/v1/admin/cases/${message!.reference}/messages`, headers: operator })
    const [shown] = listed.json<{ id: number; body: string; has_html: boolean }[]>()
    expect(shown).toMatchObject({ id: message!.id, has_html: true })
    expect(shown!.body).toContain('Fly-tipping behind the library, W2 1AA.')
    expect(shown!.body).not.toMatch(/<script|<img|alert\(document/i)

    const served = await ctx.app.inject({ method: 'GET', url: `/v1/admin/messages/${message!.id}/html`, headers: operator })
    expect(served.statusCode).toBe(200)
    expect(served.headers['content-type']).toMatch(/^text\/html/)
    expect(served.headers['content-security-policy']).toContain("default-src 'none'")
    expect(served.headers['x-content-type-options']).toBe('nosniff')
    expect(served.body).toContain('Fly-tipping behind the library, W2 1AA.')
    expect(served.body).not.toMatch(/<script|alert\(|onerror|javascript:|tracker\.example|<iframe|svg/i)
    // what the message carried itself still shows
    expect(served.body).toContain('src="cid:map@example.org"')
    expect(served.headers['content-security-policy']).not.toMatch(/img-src[^;]*(https?:|\*)/)
    // the HTML is stored as it came, and sanitised once, at its first view: what is kept
    // from then on is what was served
    expect(message!.html).toContain('<script>')
    const [kept] = await ctx.query<{ html: string; html_state: string }>('select html, html_state from messages where id = $1', [message!.id])
    expect(kept).toEqual({ html: served.body, html_state: 'sanitised' })
  })

  it('makes a subject with CR/LF one line, and the acknowledgement gains no Bcc and no recipient', async () => {
    const from = resident()
    const encoded = Buffer.from('Hello\r\nBcc: victim@example.net', 'utf8').toString('base64')
    const raw = rawMail([...personHeaders(from, `=?UTF-8?B?${encoded}?=`), 'Content-Type: text/plain; charset=utf-8'], 'Street light out on Sussex Gardens W2 1AA.')
    expect((await ctx.sendRaw(raw, { from, to: [TRI_BOROUGH_MAILBOX] })).response).toMatch(/^250 /)
    const message = await messageOf(raw)
    expect(message?.subject).toContain('Hello')
    expect(message?.subject).not.toMatch(/[\r\n]/)
    expect((await storedAs(raw))[0]?.subject).not.toMatch(/[\r\n]/)

    const sent = await waitFor(async () => ctx.mailSink!.messages.find((m) => m.to.includes(from)), 15_000, 'the acknowledgement')
    expect(sent.to).toEqual([from])
    const headerBlock = sent.raw.toString('utf8').split('\r\n\r\n')[0]!
    expect(headerBlock).not.toMatch(/^bcc:/im)
    const ack = await simpleParser(sent.raw)
    expect(ack.subject).toContain(message!.reference)
    expect(ack.subject).not.toMatch(/[\r\n]/)
    expect(ack.bcc).toBeUndefined()
    expect(ctx.mailSink!.recipients).not.toContain('victim@example.net')
  })

  it('strips NUL bytes from the stored text and keeps them in the raw mail', async () => {
    const raw = rawMail([...personHeaders(resident(), 'Nul'), 'Content-Type: text/plain; charset=utf-8'], Buffer.from('Blocked\u0000 drain on\u0000 Craven Road W2 1AA.', 'utf8'))
    expect((await ctx.sendRaw(raw, { to: [TRI_BOROUGH_MAILBOX] })).response).toMatch(/^250 /)
    expect((await storedAs(raw))[0]?.bytes?.equals(raw)).toBe(true)
    expect((await messageOf(raw))?.body).toContain('Blocked drain on Craven Road W2 1AA.')
  })
})

describe('no From: quarantine for a person to decide', () => {
  interface Listed {
    id: number
    reason: string
    subject: string | null
  }
  const quarantineList = async () => (await ctx.app.inject({ method: 'GET', url: '/v1/admin/email/quarantine', headers: operator })).json<Listed[]>()

  async function sendWithoutFrom(subject: string, text: string) {
    const raw = rawMail([...personHeaders(null, subject), 'Content-Type: text/plain; charset=utf-8'], text)
    expect((await ctx.sendRaw(raw, { to: [TRI_BOROUGH_MAILBOX] })).response).toMatch(/^250 /)
    const [row] = await storedAs(raw)
    expect(row).toMatchObject({ state: 'quarantined', reason: 'no usable sender address (From)' })
    return { raw, id: row!.id }
  }

  it('lists it, serves it raw, and opens a case when released', async () => {
    const { raw, id } = await sendWithoutFrom('Who am I', 'Abandoned car on Westbourne Terrace W2 1AA.')
    expect(await quarantineList()).toContainEqual(expect.objectContaining({ id, reason: 'no usable sender address (From)', subject: 'Who am I' }))

    const download = await ctx.app.inject({ method: 'GET', url: `/v1/admin/email/quarantine/${id}/raw`, headers: operator })
    expect(download.statusCode).toBe(200)
    expect(download.headers['content-type']).toMatch(/^message\/rfc822/)
    expect(download.headers['content-disposition']).toMatch(/^attachment/)
    expect(download.rawPayload.equals(raw)).toBe(true)

    const released = await ctx.app.inject({ method: 'POST', url: `/v1/admin/email/quarantine/${id}/release`, headers: operator })
    expect(released.statusCode).toBe(200)
    const { outcome, reference } = released.json<{ outcome: string; reference: string }>()
    expect(outcome).toBe('accepted')
    expect(await messageOf(raw)).toMatchObject({ reference, body: expect.stringContaining('Abandoned car on Westbourne Terrace') })
    expect((await storedAs(raw))[0]).toMatchObject({ state: 'released' })
    expect((await quarantineList()).map((q) => q.id)).not.toContain(id)
    // released once only
    expect((await ctx.app.inject({ method: 'POST', url: `/v1/admin/email/quarantine/${id}/release`, headers: operator })).statusCode).toBe(409)
  })

  it('deletes its bytes when discarded and keeps the record', async () => {
    const { raw, id } = await sendWithoutFrom('Nobody', 'Dog fouling on Porchester Road W2 1AA.')
    const discarded = await ctx.app.inject({ method: 'POST', url: `/v1/admin/email/quarantine/${id}/discard`, headers: operator })
    expect(discarded.statusCode).toBe(200)
    expect(discarded.json()).toEqual({ outcome: 'discarded' })

    const [row] = await ctx.query<{ state: string; bytes: Buffer | null; size_bytes: number; decided_by: string | null }>(
      'select state, bytes, size_bytes, decided_by from inbound_emails where id = $1',
      [id]
    )
    expect(row).toEqual({ state: 'discarded', bytes: null, size_bytes: raw.length, decided_by: 'operator' })
    expect((await quarantineList()).map((q) => q.id)).not.toContain(id)
    expect((await ctx.app.inject({ method: 'GET', url: `/v1/admin/email/quarantine/${id}/raw`, headers: operator })).statusCode).toBe(404)
    expect((await ctx.app.inject({ method: 'POST', url: `/v1/admin/email/quarantine/${id}/discard`, headers: operator })).statusCode).toBe(409)
    expect(await messageOf(raw)).toBeUndefined()
  })
})

/*
 * Header values Postgres cannot hold (NUL, index rows over its size limit) would make intake
 * throw, the listener answer 451 for ever and the sending server bounce the mail back in the
 * end: never kept. They must get 250 and be kept, like any other broken mail.
 */
describe('header values Postgres cannot hold', () => {
  const cases: { what: string; header: (ourDomain: string) => string }[] = [
    // a NUL in the Message-ID reaches switchboard_intake's jsonb (provider_message_id): 22P05
    { what: 'a NUL in the Message-ID', header: () => 'Message-ID: <ab\u0000cd@example.org>' },
    // a NUL in an id of our domain reaches threadByMessageId's text[] parameter: 22021
    { what: 'a NUL in an In-Reply-To id of ours', header: (domain) => `In-Reply-To: <x\u0000y@${domain}>` },
    // a NUL in any References id reaches the acknowledgement's thread headers (jsonb): 22P05
    { what: 'a NUL in a References id', header: () => 'References: <x\u0000y@example.org>' },
    // over 2,704 bytes that do not compress exceed the btree row limit of raw_inbound's unique key: 54000
    { what: 'a Message-ID of 6,000 characters', header: () => `Message-ID: <${garbage(3_000, 7).subarray(0, 3_000).toString('hex')}@example.org>` }
  ]
  for (const { what, header } of cases) {
    it(`keeps a mail with ${what}`, async () => {
      const odd = header(ctx.config.EMAIL_DOMAIN)
      const headers = personHeaders(resident(), 'Odd header').filter((h) => !odd.startsWith('Message-ID') || !h.startsWith('Message-ID'))
      const raw = rawMail([...headers, odd, 'Content-Type: text/plain; charset=utf-8'], 'Broken paving on Queensway W2 1AA.')
      expect((await ctx.sendRaw(raw, { to: [TRI_BOROUGH_MAILBOX] })).response).toMatch(/^250 /)
      expect((await storedAs(raw))[0]?.bytes?.equals(raw)).toBe(true)
    })
  }
})
