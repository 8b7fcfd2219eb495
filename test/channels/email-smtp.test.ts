import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import nodemailer from 'nodemailer'
import { simpleParser } from 'mailparser'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emailDeps } from '../../src/channels/email/email-deps.js'
import { startSmtpListener } from '../../src/channels/email/smtp-listener.js'
import { caseRow, waitFor, waitPlaced } from '../helpers/context.js'
import { createEmailContext, EMAIL_DOMAIN, HINCKLEY_MAILBOX, LEICESTERSHIRE_MAILBOX, mailSettledTo, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'
import { HINCKLEY } from '../helpers/councils.js'

let ctx: EmailContext
beforeAll(async () => {
  ctx = await createEmailContext({}, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

let n = 0
const resident = () => `resident.${++n}.${Date.now()}@example.org`

async function caseOfMessageId(messageId: string) {
  const rows = await ctx.query<{ reference: string; case_id: number; message_id: number }>(
    `select c.reference, c.id as case_id, m.id as message_id from raw_inbound r join cases c on c.id = r.case_id join messages m on m.raw_inbound_id = r.id
      where r.provider = 'email' and r.payload->>'messageId' = $1`,
    [messageId]
  )
  return rows[0]
}

/** The acknowledgement our relay (the file's mail sink) received for this resident, parsed. */
async function ackTo(address: string) {
  const sent = await waitFor(async () => ctx.mailSink!.messages.find((m) => m.to.includes(address)), 10_000, `a mail to ${address}`)
  return simpleParser(sent.raw)
}

describe('mail to a council address over SMTP', () => {
  it('opens a case that is routed, acknowledges it with the reference, and threads the reply onto it', async () => {
    const from = resident()
    const sent = await ctx.send({
      from: `Pat Resident <${from}>`,
      to: LEICESTERSHIRE_MAILBOX,
      subject: 'Bins',
      text: 'Bin not collected at LE10 0AA this week.',
      messageId: `<first-${n}@mail.example.org>`
    })
    expect(sent.response).toMatch(/^250 /)
    const opened = await caseOfMessageId(`<first-${n}@mail.example.org>`)
    expect(opened).toBeDefined()
    const placed = await waitPlaced(ctx, opened!.reference)
    expect(placed.status).toBe('routed')
    expect(placed.council_gss).toBe(HINCKLEY) // LE10's district, for bins

    const ack = await ackTo(from)
    expect(ack.subject).toContain(opened!.reference)
    expect(ack.text).toContain(opened!.reference)
    expect(ack.headers.get('auto-submitted')).toBe('auto-replied')
    expect(ack.inReplyTo).toBe(`<first-${n}@mail.example.org>`)
    expect(ack.messageId).toMatch(new RegExp(`@${EMAIL_DOMAIN.replaceAll('.', '\\.')}>$`))
    const replyTo = ack.replyTo?.value[0]?.address
    expect(replyTo).toMatch(new RegExp(`^reply\\+[A-Za-z0-9_-]+@${EMAIL_DOMAIN.replaceAll('.', '\\.')}$`))

    // the resident answers from their mail client: In-Reply-To set, sent to the reply address
    const reply = await ctx.send({
      from,
      to: replyTo!,
      subject: `Re: ${ack.subject}`,
      text: 'They came today but missed the recycling.',
      inReplyTo: ack.messageId!,
      references: [ack.messageId!],
      messageId: `<reply-${n}@mail.example.org>`
    })
    expect(reply.response).toMatch(/^250 /)
    const threaded = await caseOfMessageId(`<reply-${n}@mail.example.org>`)
    expect(threaded?.case_id).toBe(opened!.case_id)
    // the reply proved the address: it is now a verified point of the case's resident
    const [point] = await ctx.query<{ verified: boolean }>(`select verified from contact_points where kind = 'email' and value = $1`, [from])
    expect(point?.verified).toBe(true)
    // and it is not acknowledged again
    await mailSettledTo(ctx, from)
    expect(ctx.mailSink!.messages.filter((m) => m.to.includes(from))).toHaveLength(1)
  })

  it('makes one message of the same message delivered twice', async () => {
    const message = { from: resident(), to: TRI_BOROUGH_MAILBOX, subject: 'Noise', text: 'Loud music every night at W2 1AA', messageId: `<dup-${n}@mail.example.org>` }
    await ctx.send(message)
    const again = await ctx.send(message)
    expect(again.response).toMatch(/^250 /)
    const rows = await ctx.query(`select 1 from raw_inbound where provider = 'email' and payload->>'messageId' = $1`, [message.messageId])
    expect(rows).toHaveLength(1)
    // the very same bytes again (a retry by the sending server) add nothing either
    const raw = `From: ${message.from}\r\nTo: ${HINCKLEY_MAILBOX}\r\nSubject: no id\r\n\r\nPothole on the A47 LE10 0AA\r\n`
    await ctx.sendRaw(raw, { to: [HINCKLEY_MAILBOX] })
    await ctx.sendRaw(raw, { to: [HINCKLEY_MAILBOX] })
    expect(await ctx.query(`select 1 from inbound_emails where subject = 'no id'`)).toHaveLength(1)
  })

  it('stores mails that finish together in one statement, each on its own case, each 250 given once it is committed', async () => {
    // the file's pool of 5 gives mail one statement slot: the mails that finish while it is
    // busy wait, and the next statement stores them together
    const senders = Array.from({ length: 8 }, () => resident())
    const answers = await Promise.all(
      senders.map((from, i) =>
        ctx.send({ from, to: TRI_BOROUGH_MAILBOX, subject: `Report ${i}`, text: `Graffiti number ${i} on the wall at SW1A 1AA.`, messageId: `<together-${i}-${n}@mail.example.org>` })
      )
    )
    const cases = await ctx.query<{ reference: string; email: string; description: string; tx: string }>(
      `select c.reference, c.reported_email as email, c.description, r.xmin::text as tx
         from raw_inbound r join cases c on c.id = r.case_id where r.provider = 'email' and c.reported_email = any($1)`,
      [senders]
    )
    // every sender has their own case with their own text, and was answered with its reference
    expect(cases).toHaveLength(8)
    senders.forEach((from, i) => {
      const own = cases.find((c) => c.email === from)
      expect(own?.description).toContain(`Graffiti number ${i} `)
      expect(answers[i]!.response).toContain(own!.reference)
    })
    // fewer transactions than mails: some were committed together
    expect(new Set(cases.map((c) => c.tx)).size).toBeLessThan(8)
  })

  it('refuses recipients that are not ours with 550, and too big a message with 552 before reading it', async () => {
    await expect(ctx.send({ from: resident(), to: 'someone@elsewhere.example', subject: 'x', text: 'x' })).rejects.toMatchObject({ responseCode: 550 })
    await expect(ctx.send({ from: resident(), to: `reply+unknownunknownunknown@${EMAIL_DOMAIN}`, subject: 'x', text: 'x' })).rejects.toMatchObject({ responseCode: 550 })
    const before = await ctx.query('select count(*)::int as n from inbound_emails')
    const big = Buffer.alloc(30 * 1024 * 1024, 'a').toString() // 30 MB, over the 25 MiB default
    await expect(ctx.send({ from: resident(), to: TRI_BOROUGH_MAILBOX, subject: 'big', text: big })).rejects.toMatchObject({ responseCode: 552 })
    expect(await ctx.query('select count(*)::int as n from inbound_emails')).toEqual(before)
  })
})

describe('limits', () => {
  it('refuses recipients past SMTP_MAX_RECIPIENTS (452) and sessions past SMTP_MAX_CLIENTS_PER_ADDRESS (421)', async () => {
    const limited = await startSmtpListener(emailDeps(ctx.infra), { ...ctx.config, SMTP_PORT: 0, SMTP_MAX_RECIPIENTS: 2, SMTP_MAX_CLIENTS_PER_ADDRESS: 1 })
    const first = nodemailer.createTransport({ host: '127.0.0.1', port: limited.port, ignoreTLS: true, pool: true, maxConnections: 1 })
    const second = nodemailer.createTransport({ host: '127.0.0.1', port: limited.port, ignoreTLS: true })
    try {
      const three = { from: resident(), to: [TRI_BOROUGH_MAILBOX, HINCKLEY_MAILBOX, LEICESTERSHIRE_MAILBOX], subject: 'Three', text: 'Pothole at LE10 0AA' }
      // the first two recipients are taken, the third refused for now (452: try it later)
      const sent = await first.sendMail(three)
      expect(sent.accepted).toEqual([TRI_BOROUGH_MAILBOX, HINCKLEY_MAILBOX])
      expect(sent.rejected).toEqual([LEICESTERSHIRE_MAILBOX])
      expect(sent.rejectedErrors?.[0]).toMatchObject({ responseCode: 452 })
      // the pooled connection stays open: a second session from the same address is one too many
      expect((await first.sendMail({ ...three, to: [TRI_BOROUGH_MAILBOX] })).response).toMatch(/^250 /)
      await expect(second.sendMail({ ...three, to: [TRI_BOROUGH_MAILBOX], subject: 'second' })).rejects.toMatchObject({ responseCode: 421 })
    } finally {
      first.close()
      second.close()
      await limited.close()
    }
  })
})

describe('STARTTLS', () => {
  it('is offered when a certificate is configured, and not otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-smtp-tls-'))
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')]
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
    const tls = await startSmtpListener(emailDeps(ctx.infra), { ...ctx.config, SMTP_PORT: 0, SMTP_TLS_CERT_FILE: cert, SMTP_TLS_KEY_FILE: key })
    const message = { from: resident(), to: TRI_BOROUGH_MAILBOX, subject: 'Over TLS', text: 'Graffiti on the wall at W2 1AA' }
    // requireTLS: the client refuses to go on without STARTTLS
    const secure = nodemailer.createTransport({ host: '127.0.0.1', port: tls.port, requireTLS: true, tls: { rejectUnauthorized: false } })
    const plain = nodemailer.createTransport({ host: '127.0.0.1', port: ctx.smtp.port, requireTLS: true })
    try {
      expect((await secure.sendMail(message)).response).toMatch(/^250 /)
      await expect(plain.sendMail({ ...message, subject: 'no TLS here' })).rejects.toThrow(/STARTTLS/i)
    } finally {
      secure.close()
      plain.close()
      await tls.close()
    }
  })
})

describe('with Postgres unreachable', () => {
  it('answers 451 so the sender keeps the message, and the resent message is stored once', async () => {
    // a relay to the real Postgres that can be cut and restored: what the listener sees of an outage
    const sockets = new Set<Socket>()
    const relay: Server = createServer((client) => {
      const upstream = connect(5432, '127.0.0.1')
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        sockets.add(a)
        a.pipe(b)
        a.on('error', () => b.destroy())
        a.on('close', () => sockets.delete(a))
      }
    })
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
    const port = (relay.address() as { port: number }).port
    const url = new URL(ctx.config.DATABASE_URL)
    url.port = String(port)
    const db = new pg.Pool({ connectionString: url.toString(), max: 2, connectionTimeoutMillis: 1_000 })
    db.on('error', () => {})
    const listener = await startSmtpListener(emailDeps({ ...ctx.infra, db }), { ...ctx.config, SMTP_PORT: 0 })
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: listener.port, ignoreTLS: true })
    const message = { from: resident(), to: TRI_BOROUGH_MAILBOX, subject: 'Outage', text: 'Fly-tipping on Harrow Road W2 1AA', messageId: `<outage-${n}@mail.example.org>` }
    try {
      await new Promise<void>((resolve) => relay.close(() => resolve()))
      for (const s of sockets) s.destroy()
      await db.end().catch(() => {})
      await expect(client.sendMail(message)).rejects.toMatchObject({ responseCode: 451 })
    } finally {
      // Postgres back: the sending server retries
      await new Promise<void>((resolve) => relay.listen(port, '127.0.0.1', resolve))
    }
    const db2 = new pg.Pool({ connectionString: url.toString(), max: 2 })
    const listener2 = await startSmtpListener(emailDeps({ ...ctx.infra, db: db2 }), { ...ctx.config, SMTP_PORT: 0 })
    const client2 = nodemailer.createTransport({ host: '127.0.0.1', port: listener2.port, ignoreTLS: true })
    try {
      expect((await client2.sendMail(message)).response).toMatch(/^250 /)
      expect((await client2.sendMail(message)).response).toMatch(/^250 /)
      expect(await ctx.query(`select 1 from raw_inbound where payload->>'messageId' = $1`, [message.messageId])).toHaveLength(1)
      const opened = await caseOfMessageId(message.messageId)
      expect(await caseRow(ctx, opened!.reference)).toBeDefined()
    } finally {
      client.close()
      client2.close()
      await listener.close()
      await listener2.close()
      await db2.end()
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => relay.close(() => resolve()))
    }
  })
})
