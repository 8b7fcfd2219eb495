import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { eventsOf, postContact, type TestContext } from '../helpers/context.js'
import { adminRequest } from '../helpers/delivery.js'
import { ACCOUNT_SID, postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'
import { createTwilioContext, type TwilioApiStandIn } from '../helpers/twilio-api.js'

// Replies by SMS go through the message:send queue to Twilio's REST API (here a local
// stand-in that answers as Twilio does), and Twilio's status callbacks report on them.

const OUR_NUMBER = '+447700900101'

let ctx: TestContext
let api: TwilioApiStandIn
let close: () => Promise<void>
beforeAll(async () => {
  ;({ ctx, api, close } = await createTwilioContext())
})
afterAll(async () => {
  await close?.()
})
beforeEach(() => {
  api.answer = () => ({ status: 201 })
})

/** A resident texts us; returns the case reference from our acknowledgement. */
async function textIn(from: string, body: string) {
  const res = await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: from, To: OUR_NUMBER, Body: body }))
  const reference = /SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec(res.body)?.[0]
  expect(reference, res.body).toBeDefined()
  return reference!
}

function reply(reference: string, body: string) {
  return ctx.app.inject({
    method: 'POST',
    url: `/v1/admin/cases/${reference}/replies`,
    headers: { authorization: `Bearer ${ctx.config.OPERATOR_API_KEY}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ body })
  })
}

async function messageState(messageId: number) {
  const [row] = await ctx.query<{ status: string; provider_message_id: string | null; status_detail: string | null }>(
    'select status, provider_message_id, status_detail from messages where id = $1',
    [messageId]
  )
  return row!
}

const settled = (messageId: number) =>
  expect.poll(async () => (await messageState(messageId)).status, { timeout: 10_000, interval: 50 }).not.toBe('pending')

describe('a reply to a case that came by text', () => {
  it('is sent by SMS from the number the resident texted, and its status reports move it forward only', async () => {
    const from = '+447911223300'
    const reference = await textIn(from, 'Council tax bill question')
    const res = await reply(reference, 'Thanks, we have corrected your bill.')
    expect(res.statusCode, res.body).toBe(202)
    const { message_id: messageId } = res.json() as { message_id: number }
    await settled(messageId)

    expect(api.texts).toHaveLength(1)
    const sent = api.texts[0]!
    expect(sent.path).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`)
    expect(sent.params).toMatchObject({ To: from, From: OUR_NUMBER, Body: 'Thanks, we have corrected your bill.', StatusCallback: `${ctx.config.PUBLIC_BASE_URL}/channels/twilio/sms/status` })
    expect(sent.headers.authorization).toBe(`Basic ${Buffer.from(`${ACCOUNT_SID}:${TWILIO_TOKEN}`).toString('base64')}`)
    expect(await messageState(messageId)).toMatchObject({ status: 'queued', provider_message_id: sent.sid })

    const report = (status: string, extra: Record<string, string> = {}) =>
      postTwilio(ctx, '/channels/twilio/sms/status', { MessageSid: sent.sid, MessageStatus: status, AccountSid: ACCOUNT_SID, To: from, From: OUR_NUMBER, ...extra })
    const delivered = await report('delivered')
    expect(delivered.statusCode).toBe(200)
    expect(String(delivered.headers['content-type'])).toMatch(/^text\/xml/)
    expect((await messageState(messageId)).status).toBe('delivered')
    // 'sent' arriving late does not undo 'delivered'
    await report('sent')
    expect((await messageState(messageId)).status).toBe('delivered')
    // an unsigned report changes nothing
    const forged = await postTwilio(ctx, '/channels/twilio/sms/status', { MessageSid: sent.sid, MessageStatus: 'failed', AccountSid: ACCOUNT_SID }, { token: null })
    expect(forged.statusCode).toBe(403)
    expect((await messageState(messageId)).status).toBe('delivered')
    expect((await eventsOf(ctx, reference)).map((e) => e.type)).toEqual(expect.arrayContaining(['message.queued', 'message.sent']))
  })

  it('sends nothing after STOP, and sends again after START', async () => {
    const from = '+447911223301'
    const reference = await textIn(from, 'Noise complaint about the pub')
    await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: from, To: OUR_NUMBER, Body: 'STOP', OptOutType: 'STOP' }))
    const before = api.texts.length

    const blocked = (await reply(reference, 'We will visit on Tuesday.')).json() as { message_id: number }
    await settled(blocked.message_id)
    expect(await messageState(blocked.message_id)).toMatchObject({ status: 'blocked' })
    expect(api.texts).toHaveLength(before)
    expect((await eventsOf(ctx, reference)).find((e) => e.type === 'message.blocked')?.reason).toMatch(/STOP/)

    await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: from, To: OUR_NUMBER, Body: 'START', OptOutType: 'START' }))
    const sent = (await reply(reference, 'We will visit on Tuesday.')).json() as { message_id: number }
    await settled(sent.message_id)
    expect((await messageState(sent.message_id)).status).toBe('queued')
    expect(api.texts).toHaveLength(before + 1)
    expect(api.texts.at(-1)!.params.To).toBe(from)
  })

  it('is recorded failed, not retried, when Twilio refuses the number', async () => {
    const reference = await textIn('+447911223302', 'Missed bin')
    let calls = 0
    api.answer = () => {
      calls++
      return { status: 400, code: 21211, message: "The 'To' number is not a valid phone number." }
    }
    const { message_id: messageId } = (await reply(reference, 'Hello')).json() as { message_id: number }
    await settled(messageId)
    const state = await messageState(messageId)
    expect(state.status).toBe('failed')
    expect(state.status_detail).toContain('21211')
    expect(calls).toBe(1)
  })

  it('is retried when Twilio fails for a moment, and sent once', async () => {
    const reference = await textIn('+447911223303', 'Pothole question')
    api.answer = (n) => (n === 0 ? { status: 503, code: 20503, message: 'Service unavailable' } : { status: 201 })
    const before = api.texts.length
    const { message_id: messageId } = (await reply(reference, 'Thanks')).json() as { message_id: number }
    await settled(messageId)
    expect((await messageState(messageId)).status).toBe('queued')
    expect(api.texts).toHaveLength(before + 1)
  })
})

describe('a reply to a case that did not come by text', () => {
  it('is refused with 409 until its channel can be answered', async () => {
    const { reference } = (await postContact(ctx, { email: 'web.resident@example.com', postcode: 'SW1A 1AA', description: 'council tax' })).json() as { reference: string }
    const res = await reply(reference, 'Hello')
    expect(res.statusCode).toBe(409)
    expect(res.json().code).toBe('reply_channel_unavailable')
    expect((await adminRequest(ctx, 'POST', '/v1/admin/cases/SB-0000-0000-0000/replies')).statusCode).toBe(400)
  })
})
