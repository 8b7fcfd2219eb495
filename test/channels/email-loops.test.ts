import { simpleParser, type ParsedMail } from 'mailparser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OPERATOR_KEY, waitFor } from '../helpers/context.js'
import { createEmailContext, EMAIL_DOMAIN, LEICESTERSHIRE_MAILBOX, mailSettledTo, noMailPendingTo, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'

let ctx: EmailContext
beforeAll(async () => {
  ctx = await createEmailContext({}, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

let n = 0
const resident = () => `loops.${++n}.${Date.now()}@example.org`

/** Every mail our relay received for this address so far, parsed. */
async function mailsTo(address: string): Promise<ParsedMail[]> {
  return Promise.all(ctx.mailSink!.messages.filter((m) => m.to.includes(address)).map((m) => simpleParser(m.raw)))
}
const firstMailTo = (address: string) => waitFor(async () => (await mailsTo(address))[0], 10_000, `a mail to ${address}`)

/** Every mail to this address once none queued to it waits to be sent (see mailSettledTo). */
async function settledMailsTo(address: string): Promise<ParsedMail[]> {
  await mailSettledTo(ctx, address)
  return mailsTo(address)
}

async function openCase(from: string, text = 'Bin not collected at LE10 0AA') {
  const messageId = `<open-${++n}@mail.example.org>`
  await ctx.send({ from, to: LEICESTERSHIRE_MAILBOX, subject: 'Missed bin', text, messageId })
  const [row] = await ctx.query<{ id: number; reference: string }>(
    `select c.id, c.reference from raw_inbound r join cases c on c.id = r.case_id where r.payload->>'messageId' = $1`,
    [messageId]
  )
  return { ...row!, ack: await firstMailTo(from) }
}

const messagesOf = (caseId: number) =>
  ctx.query<{ direction: string; kind: string | null; status: string | null; body: string }>('select direction, kind, status, body from messages where case_id = $1 order by id', [caseId])

describe('automatic mail', () => {
  it('attaches an out-of-office reply to our acknowledgement to its case, without answering it or reopening the case', async () => {
    const from = resident()
    const opened = await openCase(from)
    await ctx.query(`update cases set status = 'resolved', work_status = 'resolved' where id = $1`, [opened.id])
    const ooo = [
      `From: ${from}`,
      `To: ${opened.ack.replyTo!.value[0]!.address}`,
      `Subject: Automatic reply: ${opened.ack.subject}`,
      `Message-ID: <ooo-${n}@mail.example.org>`,
      `In-Reply-To: ${opened.ack.messageId}`,
      'Auto-Submitted: auto-replied',
      'X-Auto-Response-Suppress: All',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'I am out of the office until Monday.',
      ''
    ].join('\r\n')
    expect((await ctx.sendRaw(ooo, { from, to: [opened.ack.replyTo!.value[0]!.address!] })).response).toMatch(/^250 /)
    const messages = await messagesOf(opened.id)
    expect(messages.filter((m) => m.direction === 'inbound').map((m) => m.kind)).toEqual([null, 'auto_reply'])
    const [c] = await ctx.query<{ status: string; work_status: string }>('select status, work_status from cases where id = $1', [opened.id])
    expect(c!.status).toBe('resolved')
    expect(c!.work_status).toBe('resolved') // an agent's resolved case is not reopened by a robot either
    expect(await settledMailsTo(from)).toHaveLength(1) // the acknowledgement only
  })

  it('never ping-pongs with a responder that answers everything, even one that says nothing of being automatic', async () => {
    const responder = resident()
    const answered = new Set<number>()
    /** the mails it has answered and whose answer our server has replied to */
    const done = new Set<number>()
    let running = true
    // a naive autoresponder: every mail it gets is answered to its From, with a new subject
    // and no In-Reply-To or Auto-Submitted, the worst kind there is
    const loop = (async () => {
      while (running) {
        const all = ctx.mailSink!.messages
        for (let i = 0; i < all.length; i++) {
          if (answered.has(i) || !all[i]!.to.includes(responder)) continue
          answered.add(i)
          const got = await simpleParser(all[i]!.raw)
          await ctx.send({ from: responder, to: got.from!.value[0]!.address!, subject: `Thanks for your mail ${i}`, text: 'We got your mail and will answer soon.' }).catch(() => {})
          done.add(i)
        }
        await new Promise((r) => setTimeout(r, 25))
      }
    })()
    await ctx.send({ from: responder, to: TRI_BOROUGH_MAILBOX, subject: 'Hello', text: 'Is anyone there?' })
    // it stops by itself: at most EMAIL_ACK_MAX_PER_WINDOW acknowledgements to one address
    await waitFor(async () => (await mailsTo(responder)).length >= ctx.config.EMAIL_ACK_MAX_PER_WINDOW, 10_000, 'the acknowledgements')
    // quiet once it has answered every mail of ours, each answer was taken in (any acknowledgement
    // of it queued by then), and nothing queued to it waits to be sent: no more can come
    const answeredAll = () => {
      const got = ctx.mailSink!.messages.flatMap((m, i) => (m.to.includes(responder) ? [i] : []))
      return got.every((i) => done.has(i)) ? got.length : -1
    }
    await waitFor(
      async () => {
        const before = answeredAll()
        if (before < 0) return false
        return (await noMailPendingTo(ctx, responder)) && answeredAll() === before
      },
      10_000,
      'the responder and us to fall quiet'
    )
    running = false
    await loop
    expect(await mailsTo(responder)).toHaveLength(ctx.config.EMAIL_ACK_MAX_PER_WINDOW)
    for (const m of await mailsTo(responder)) expect(m.headers.get('auto-submitted')).toBe('auto-replied')
  })

  it('links a bounce of our reply to its case, marks the address failing and answers nothing', async () => {
    const from = resident()
    const opened = await openCase(from)
    const res = await ctx.app.inject({
      method: 'POST',
      url: `/v1/admin/cases/${opened.reference}/replies`,
      headers: { authorization: `Bearer ${OPERATOR_KEY}` },
      payload: { body: 'Your bin will be collected tomorrow.' }
    })
    expect(res.statusCode).toBe(202)
    const reply = await waitFor(async () => (await mailsTo(from))[1], 10_000, 'our reply')
    expect(reply.inReplyTo).toBe(`<open-${n}@mail.example.org>`)
    expect(reply.subject).toContain(opened.reference)
    expect(reply.headers.get('auto-submitted')).toBeUndefined()
    const boundary = 'bounce-boundary'
    const bounce = [
      'From: Mail Delivery System <MAILER-DAEMON@mx.example.org>',
      `To: ${LEICESTERSHIRE_MAILBOX}`,
      'Subject: Undelivered Mail Returned to Sender',
      `Message-ID: <bounce-${n}@mx.example.org>`,
      'Auto-Submitted: auto-replied',
      `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
      'MIME-Version: 1.0',
      '',
      `--${boundary}`,
      'Content-Type: text/plain',
      '',
      `I'm sorry to have to inform you that your message could not be delivered to ${from}.`,
      '',
      `--${boundary}`,
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.example.org',
      '',
      `Final-Recipient: rfc822; ${from}`,
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 User unknown',
      '',
      `--${boundary}`,
      'Content-Type: message/rfc822',
      '',
      `From: ${LEICESTERSHIRE_MAILBOX}`,
      `To: ${from}`,
      `Subject: ${reply.subject}`,
      `Message-ID: ${reply.messageId}`,
      '',
      'Your bin will be collected tomorrow.',
      '',
      `--${boundary}--`,
      ''
    ].join('\r\n')
    expect((await ctx.sendRaw(bounce, { from: '', to: [LEICESTERSHIRE_MAILBOX] })).response).toMatch(/^250 /)
    const messages = await messagesOf(opened.id)
    expect(messages.find((m) => m.kind === 'bounce')).toBeDefined()
    expect(messages.filter((m) => m.direction === 'outbound').map((m) => m.status)).toContain('failed')
    const [point] = await ctx.query<{ failing_since: Date | null; failing_detail: string | null }>(`select failing_since, failing_detail from contact_points where kind = 'email' and value = $1`, [from])
    expect(point!.failing_since).not.toBeNull()
    await settledMailsTo('MAILER-DAEMON@mx.example.org')
    expect(ctx.mailSink!.messages.filter((m) => m.to.some((t) => /mailer-daemon/i.test(t)))).toHaveLength(0)
  })
})

describe('threading by the reference in a subject', () => {
  it('joins the case only when the sender is the one who reported it; anyone else opens a flagged case of their own', async () => {
    const owner = resident()
    const opened = await openCase(owner)
    await ctx.send({ from: owner, to: LEICESTERSHIRE_MAILBOX, subject: `More about [Ref: ${opened.reference}]`, text: 'Still not collected.' })
    expect((await messagesOf(opened.id)).filter((m) => m.direction === 'inbound')).toHaveLength(2)

    const stranger = resident()
    const messageId = `<stranger-${n}@mail.example.org>`
    await ctx.send({ from: stranger, to: LEICESTERSHIRE_MAILBOX, subject: `Re: ${opened.reference}`, text: 'Let me see this case', messageId })
    expect((await messagesOf(opened.id)).filter((m) => m.direction === 'inbound')).toHaveLength(2)
    const [other] = await ctx.query<{ id: number; flags: string[] }>(
      `select c.id, c.flags from raw_inbound r join cases c on c.id = r.case_id where r.payload->>'messageId' = $1`,
      [messageId]
    )
    expect(other!.id).not.toBe(opened.id)
    expect(other!.flags).toContain('reference_of_another_sender')
  })

  it('treats a From address as a claim: mail alone never verifies it', async () => {
    const from = resident()
    await ctx.send({ from, to: TRI_BOROUGH_MAILBOX, subject: 'Noise', text: 'Noise at night W2 1AA' })
    const [point] = await ctx.query<{ verified: boolean }>(`select verified from contact_points where kind = 'email' and value = $1`, [from])
    expect(point!.verified).toBe(false)
  })

  it('keeps a From that failed DMARC on a flagged case of its own, never linked to the resident holding that address', async () => {
    const victim = resident()
    const opened = await openCase(victim)
    const [{ resident_id: victimId } = { resident_id: 0 }] = await ctx.query<{ resident_id: number }>('select resident_id from cases where id = $1', [opened.id])
    const messageId = `<spoof-${n}@mail.example.org>`
    const spoof = [
      'Authentication-Results: mx.switchboard.test; spf=fail smtp.mailfrom=example.org; dmarc=fail header.from=example.org',
      `From: ${victim}`,
      `To: ${LEICESTERSHIRE_MAILBOX}`,
      'Subject: Please change my address',
      `Message-ID: ${messageId}`,
      '',
      'Send all letters to 1 Elsewhere Road LE10 0AA.',
      ''
    ].join('\r\n')
    expect((await ctx.sendRaw(spoof, { from: victim, to: [LEICESTERSHIRE_MAILBOX] })).response).toMatch(/^250 /)
    const [c] = await ctx.query<{ resident_id: number; flags: string[]; reported_email: string | null }>(
      `select c.resident_id, c.flags, c.reported_email from raw_inbound r join cases c on c.id = r.case_id where r.payload->>'messageId' = $1`,
      [messageId]
    )
    expect(c!.flags).toContain('sender_not_authenticated')
    expect(c!.resident_id).not.toBe(victimId)
    expect(c!.reported_email).toBeNull()
    expect(await settledMailsTo(victim)).toHaveLength(1) // its own acknowledgement only: none for the spoof
  })

  it('refuses a reply address that no case has with 550', async () => {
    await expect(ctx.send({ from: resident(), to: `reply+AAAAAAAAAAAAAAAAAAAAAAAA@${EMAIL_DOMAIN}`, subject: 'x', text: 'x' })).rejects.toMatchObject({ responseCode: 550 })
  })
})
