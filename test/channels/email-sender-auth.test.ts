import { generateKeyPairSync } from 'node:crypto'
import nodemailer, { type SendMailOptions } from 'nodemailer'
import { simpleParser } from 'mailparser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMailTransport, sendTeamMail } from '../../src/delivery/email.js'
import { OPERATOR_KEY, waitFor } from '../helpers/context.js'
import { createEmailContext, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'
import { ACCOUNT_SID, postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'
import { startTwilioApi, type TwilioApiStandIn } from '../helpers/twilio-api.js'

// Mail acknowledgements cannot be aimed at strangers (issue 20, point 6). Anyone can send
// our listener a mail "From: victim@…"; the acknowledgement went to the victim with the
// sender's subject, links and right-to-left tricks included. Now SPF, DKIM and DMARC are
// checked by the listener itself, only a sender they vouch for is acknowledged, and the
// acknowledgement says nothing the sender wrote. DNS is a table (test/helpers/email.ts).

const SECRET = '0123456789abcdef0123'
const RLO = '\u202e'
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/

let ctx: EmailContext
let twilio: TwilioApiStandIn
beforeAll(async () => {
  twilio = await startTwilioApi()
  ctx = await createEmailContext(
    { EMAIL_INBOUND_SECRETS: `provider:${SECRET}`, TWILIO_AUTH_TOKEN: TWILIO_TOKEN, TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_API_URL: twilio.url },
    { workers: true }
  )
  // victim.example allows only its own server (not us, 127.0.0.1) and asks for rejection
  ctx.dns.txt('victim.example', 'v=spf1 ip4:192.0.2.10 -all')
  ctx.dns.txt('_dmarc.victim.example', 'v=DMARC1; p=reject')
  // signed.example signs its mail (DKIM) and publishes DMARC, but its SPF does not allow us
  ctx.dns.txt('signed.example', 'v=spf1 ip4:192.0.2.20 -all')
  ctx.dns.txt('_dmarc.signed.example', 'v=DMARC1; p=quarantine')
  ctx.dns.txt('sel1._domainkey.signed.example', `v=DKIM1; k=rsa; p=${DKIM.publicKey}`)
})
afterAll(async () => {
  await ctx?.close()
  await twilio?.close()
})

const DKIM = (() => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64')
  }
})()

let n = 0
/** A message as its sender's own server would hand it on: built (and signed) by nodemailer. */
async function build(message: SendMailOptions, sign = false): Promise<Buffer> {
  const composer = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    ...(sign ? { dkim: { domainName: 'signed.example', keySelector: 'sel1', privateKey: DKIM.privateKey } } : {})
  })
  const info = await composer.sendMail({ messageId: `<auth-${++n}-${Date.now()}@mail.example>`, ...message })
  return info.message as Buffer
}

const referenceIn = (answer: string) => /SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec(answer)?.[0]

/** The case a reference names, with the mail we queued on it (queued with the intake, in its transaction). */
async function caseAndOutbound(reference: string) {
  const [c] = await ctx.query<{ id: number; reported_email: string | null }>('select id, reported_email from cases where reference = $1', [reference])
  const outbound = await ctx.query<{ recipient: string; subject: string }>(`select recipient, subject from messages where case_id = $1 and direction = 'outbound'`, [c?.id ?? 0])
  return { case: c, outbound }
}

async function senderCheckOf(reference: string) {
  const res = await ctx.app.inject({ method: 'GET', url: `/v1/admin/cases/${reference}/messages`, headers: { authorization: `Bearer ${OPERATOR_KEY}` } })
  expect(res.statusCode).toBe(200)
  return res.json<{ direction: string; sender_check: { passed: boolean; reason: string; spf: string; dkim: string; dmarc: string } | null }[]>().find((m) => m.direction === 'inbound')!.sender_check
}

describe('a forged From sent straight to our listener', () => {
  it('opens a case but sends the victim nothing, and shows agents why', async () => {
    const victim = `victim.${Date.now()}@victim.example`
    const raw = await build({
      from: `Council Tax <${victim}>`,
      to: TRI_BOROUGH_MAILBOX,
      subject: `Refund due: claim at https://evil.example/refund ${RLO}fdp.exe`,
      text: 'Pothole outside 10 Downing Street SW1A 2AA'
    })
    const answer = await ctx.sendRaw(raw, { from: victim, to: [TRI_BOROUGH_MAILBOX] })
    expect(answer.response).toMatch(/^250 /)
    const reference = referenceIn(answer.response)!
    const found = await caseAndOutbound(reference)
    // the case exists, as for any mail; the acknowledgement would have been queued with it
    expect(found.case).toBeDefined()
    expect(found.outbound).toEqual([])
    const check = await senderCheckOf(reference)
    expect(check).toMatchObject({ passed: false, spf: 'fail', dmarc: 'fail' })
    expect(check!.reason).toContain('DMARC fail for victim.example')
  })
})

describe('a sender the checks vouch for', () => {
  it('is acknowledged in our own words: no subject, link or direction control of theirs', async () => {
    const from = `resident.${Date.now()}@example.org` // SPF allows 127.0.0.1, no DMARC record
    const answer = await ctx.send({ from, to: TRI_BOROUGH_MAILBOX, subject: `Bins ${RLO}see https://evil.example/x`, text: 'Bin not collected at W2 1AA.' })
    const reference = referenceIn(answer.response)!
    const sent = await waitFor(async () => ctx.mailSink!.messages.find((m) => m.to.includes(from)), 10_000, 'the acknowledgement')
    const ack = await simpleParser(sent.raw)
    expect(ack.subject).toBe(`We have your message [Ref: ${reference}]`)
    expect(sent.raw.toString('utf8')).not.toMatch(/evil\.example|see https/)
    expect(sent.raw.toString('utf8')).not.toMatch(BIDI)
    expect(await senderCheckOf(reference)).toMatchObject({ passed: true, spf: 'pass', dmarc: 'none' })
  })

  it('passes on DMARC with an aligned DKIM signature, although SPF does not allow our client', async () => {
    const from = `signed.${Date.now()}@signed.example`
    const raw = await build({ from, to: TRI_BOROUGH_MAILBOX, subject: 'Graffiti', text: 'Graffiti on the bus shelter, W2 1AA.' }, true)
    const answer = await ctx.sendRaw(raw, { from, to: [TRI_BOROUGH_MAILBOX] })
    const reference = referenceIn(answer.response)!
    expect((await caseAndOutbound(reference)).outbound).toEqual([expect.objectContaining({ recipient: from })])
    expect(await senderCheckOf(reference)).toMatchObject({ passed: true, spf: 'fail', dkim: 'pass (aligned)', dmarc: 'pass' })
  })
})

describe('mail posted by a provider (no connecting address)', () => {
  const post = (raw: Buffer) =>
    ctx.app.inject({ method: 'POST', url: '/channels/email/inbound', headers: { 'content-type': 'message/rfc822', authorization: `Bearer ${SECRET}` }, payload: raw })

  it('is acknowledged only with an aligned DKIM signature; SPF cannot be checked', async () => {
    const signedFrom = `webhook.signed.${Date.now()}@signed.example`
    const signed = await post(await build({ from: signedFrom, to: TRI_BOROUGH_MAILBOX, subject: 'Noise', text: 'Loud music at W2 1AA.' }, true))
    const signedRef = signed.json<{ reference: string }>().reference
    expect((await caseAndOutbound(signedRef)).outbound).toEqual([expect.objectContaining({ recipient: signedFrom })])
    expect(await senderCheckOf(signedRef)).toMatchObject({ passed: true, dkim: 'pass (aligned)', dmarc: 'pass' })

    // SPF of example.org would pass from 127.0.0.1, but a webhook gives no address to check
    const plainFrom = `webhook.plain.${Date.now()}@example.org`
    const plain = await post(await build({ from: plainFrom, to: TRI_BOROUGH_MAILBOX, subject: 'Noise', text: 'Loud music at W2 1AA.' }))
    const plainRef = plain.json<{ reference: string }>().reference
    const found = await caseAndOutbound(plainRef)
    expect(found.case?.reported_email).toBe(plainFrom)
    expect(found.outbound).toEqual([])
    expect(await senderCheckOf(plainRef)).toMatchObject({ passed: false, spf: 'not checked (no connecting address)', dmarc: 'none' })
  })
})

describe('what we send', () => {
  it('carries no direction control, whatever an agent or council wrote', async () => {
    const from = `reply.${Date.now()}@example.org`
    const answer = await ctx.send({ from, to: TRI_BOROUGH_MAILBOX, subject: 'Street light', text: 'Street light out on Sussex Gardens W2 1AA.' })
    const reference = referenceIn(answer.response)!
    const res = await ctx.app.inject({
      method: 'POST',
      url: `/v1/admin/cases/${reference}/replies`,
      headers: { authorization: `Bearer ${OPERATOR_KEY}` },
      payload: { body: `Fixed. Details: ${RLO}moc.elpmaxe\u2066 and \u200fmore\u061c.` }
    })
    expect(res.statusCode).toBe(202)
    const reply = await waitFor(async () => {
      for (const m of ctx.mailSink!.messages.filter((x) => x.to.includes(from))) {
        const mail = await simpleParser(m.raw)
        if (mail.text?.includes('Fixed.')) return mail
      }
      return null
    }, 10_000, 'the reply')
    expect(reply.text).toContain('Fixed. Details: moc.elpmaxe and more.')
    expect(`${reply.subject}${reply.text}`).not.toMatch(BIDI)
  })

  it("carries none to a council team mailbox either, where a resident's words are quoted", async () => {
    const transport = createMailTransport(ctx.mailSink!.url)
    try {
      const to = `team.${Date.now()}@council.example`
      const result = await sendTeamMail(transport, { from: 'switchboard@example.org', to, subject: `New case ${RLO}gnp.exe`, text: `Resident wrote: ${RLO}moc.elpmaxe`, deliveryId: 'd-1', caseReference: 'SB-AAAA-BBBB-CCCC' })
      expect(result.ok).toBe(true)
      const mail = await simpleParser(ctx.mailSink!.messages.find((m) => m.to.includes(to))!.raw)
      expect(mail.subject).toBe('New case gnp.exe')
      expect(mail.text).toContain('Resident wrote: moc.elpmaxe')
    } finally {
      transport.close()
    }
  })
})

describe('what we send by text', () => {
  it('carries no direction control either', async () => {
    const res = await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: '+447911223399', To: '+447700900101', Body: 'Council tax question' }))
    const reference = referenceIn(res.body)!
    const reply = await ctx.app.inject({
      method: 'POST',
      url: `/v1/admin/cases/${reference}/replies`,
      headers: { authorization: `Bearer ${OPERATOR_KEY}` },
      payload: { body: `Pay at ${RLO}moc.elpmaxe today` }
    })
    expect(reply.statusCode).toBe(202)
    const sent = await waitFor(async () => twilio.texts.find((t) => t.params.Body?.includes('today')), 10_000, 'the text')
    expect(sent.params.Body).toBe('Pay at moc.elpmaxe today')
  })
})
