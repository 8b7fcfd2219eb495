import { once } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { simpleParser } from 'mailparser'
import { SMTPServer, type SMTPServerAddress } from 'smtp-server'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { caseRow, createTestContext, eventsOf, postContact, type TestContext } from '../helpers/context.js'
import { deliveriesSettled, waitDelivery } from '../helpers/delivery.js'

interface ReceivedMail {
  from: string
  to: string[]
  raw: string
}

/** What the mail server says to a RCPT TO: nothing (accept), or an SMTP error code. */
type RcptPolicy = (address: string, n: number) => number | null

let ctx: TestContext
let smtp: SMTPServer
const mails: ReceivedMail[] = []
const rcptSeen: string[] = []
let policy: RcptPolicy = () => null
/** What the mail server says once it has read a message: nothing (accept), or an SMTP error code. */
let dataPolicy: (n: number) => number | null = () => null
/** every message the server read, accepted or not */
const transmitted: string[] = []

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      const n = rcptSeen.push(address.address) - 1
      const code = policy(address.address, n)
      if (code === null) return callback()
      const err = Object.assign(new Error(code >= 500 ? 'Mailbox unavailable' : 'Mailbox busy, try again later'), { responseCode: code })
      return callback(err)
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        const code = dataPolicy(transmitted.push(raw) - 1)
        if (code !== null) return callback(Object.assign(new Error('Local problem, try again later'), { responseCode: code }))
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8')
        })
        callback()
      })
    }
  })
  smtp.listen(0, '127.0.0.1')
  await once(smtp.server, 'listening')
  const port = (smtp.server.address() as AddressInfo).port
  ctx = await createTestContext({ SMTP_URL: `smtp://127.0.0.1:${port}`, DELIVERY_ATTEMPTS: 5, DELIVERY_BACKOFF_MS: 100 }, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()))
})
beforeEach(() => {
  mails.length = 0
  rcptSeen.length = 0
  transmitted.length = 0
  policy = () => null
  dataPolicy = () => null
})

/** A header's value from a raw RFC 5322 message (unfolded). */
function header(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ')
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
  return line?.slice(name.length + 1).trim()
}

async function reportMissedBin() {
  const res = await postContact(ctx, {
    name: 'Mail Resident',
    email: `mail.${randomUUID().slice(0, 8)}@example.com`,
    postcode: 'SW1A 1AA',
    service_code: 'missed_bin',
    description: 'Green garden waste bin missed again'
  })
  expect(res.statusCode, res.body).toBe(202)
  return (res.json() as { reference: string }).reference
}

describe('delivery to a team mailbox over SMTP', () => {
  it("mails a routed case to the council team's mailbox, with its reference and delivery id", async () => {
    const reference = await reportMissedBin()
    const delivered = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(delivered).toMatchObject({ state: 'delivered', kind: 'email', attempts: 1 })

    expect(mails).toHaveLength(1)
    const mail = mails[0]!
    expect(mail.to).toEqual(['waste@wcc.council.example'])
    expect(mail.from).toBe('switchboard@localhost')
    expect(header(mail.raw, 'To')).toContain('waste@wcc.council.example')
    expect(header(mail.raw, 'Subject')).toContain(`[${reference}]`)
    expect(header(mail.raw, 'Subject')).toContain('Missed bin collection')
    expect(header(mail.raw, 'X-Switchboard-Delivery')).toBe(delivered.public_id)
    expect(header(mail.raw, 'X-Switchboard-Case')).toBe(reference)
    expect(header(mail.raw, 'Auto-Submitted')).toBe('auto-generated')
    // the body as the mailbox reads it: quoted-printable may fold any line of the raw message
    expect((await simpleParser(mail.raw)).text).toContain('Green garden waste bin missed again')

    expect((await caseRow(ctx, reference))?.status).toBe('with_back_office')
    const succeeded = (await eventsOf(ctx, reference)).find((e) => e.type === 'delivery.succeeded')
    expect(succeeded?.reason).toContain('accepted by the mail server')
  })

  it('dead-letters after one attempt when the mail server refuses the mailbox (550)', async () => {
    policy = () => 550
    const reference = await reportMissedBin()
    const dead = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(dead).toMatchObject({ state: 'dead', kind: 'email', attempts: 1, last_status: 550 })
    await deliveriesSettled(ctx) // no attempt is left to come
    expect(rcptSeen).toEqual(['waste@wcc.council.example'])
    expect(mails).toHaveLength(0)
    expect((await caseRow(ctx, reference))?.status).toBe('routed')
    const event = (await eventsOf(ctx, reference)).find((e) => e.type === 'delivery.dead_lettered')
    expect(event?.reason).toContain('permanent failure')
    expect(event?.reason).toContain('550')
  })

  it('retries when the mail server defers the mailbox (451), then delivers', async () => {
    policy = (_address, n) => (n === 0 ? 451 : null)
    const reference = await reportMissedBin()
    const delivered = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(delivered).toMatchObject({ state: 'delivered', attempts: 2 })
    expect(rcptSeen).toEqual(['waste@wcc.council.example', 'waste@wcc.council.example'])
    expect(mails).toHaveLength(1)
    expect(header(mails[0]!.raw, 'X-Switchboard-Delivery')).toBe(delivered.public_id)
    expect((await eventsOf(ctx, reference)).filter((e) => e.type === 'delivery.dead_lettered')).toHaveLength(0)
  })

  it('sends a retried mail with the same Message-ID, so a mailbox that kept the first copy can tell', async () => {
    // the server reads the whole first message, then answers 451: it may have kept it
    dataPolicy = (n) => (n === 0 ? 451 : null)
    const reference = await reportMissedBin()
    const delivered = await waitDelivery(ctx, reference, ['delivered', 'dead'])
    expect(delivered).toMatchObject({ state: 'delivered', attempts: 2 })
    expect(transmitted).toHaveLength(2)
    const ids = transmitted.map((raw) => header(raw, 'Message-ID'))
    expect(ids[0]).toBe(`<sb.delivery.${delivered.public_id}@localhost>`)
    expect(ids[1]).toBe(ids[0])
    // another delivery gets another
    const other = await waitDelivery(ctx, await reportMissedBin(), ['delivered', 'dead'])
    expect(header(mails.at(-1)!.raw, 'Message-ID')).toBe(`<sb.delivery.${other.public_id}@localhost>`)
  })
})
