import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestContext } from '../helpers/context.js'
import { ACCOUNT_SID, postTwilio, recordingSid, voiceParams } from '../helpers/twilio.js'
import { createTwilioContext, type TwilioApiStandIn } from '../helpers/twilio-api.js'

// A voicemail cannot be acknowledged in the call's TwiML once the caller has hung up: the
// acknowledgement goes by text, through the message:send queue.

const NUMBER = '+447700900100' // tri-borough: takes calls and texts

let ctx: TestContext
let api: TwilioApiStandIn
let close: () => Promise<void>
beforeAll(async () => {
  ;({ ctx, api, close } = await createTwilioContext())
})
afterAll(async () => {
  await close?.()
})

/** The caller leaves a voicemail about a pothole in Westminster (the Record action, as Twilio posts it). */
function leaveVoicemail(from: string) {
  const params = voiceParams({ From: from, To: NUMBER }) as Record<string, string>
  const sid = recordingSid()
  return postTwilio(ctx, '/channels/twilio/voice/recorded?council=E09000033&service=pothole', {
    ...params,
    RecordingSid: sid,
    RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/${sid}`,
    RecordingDuration: '12',
    Digits: 'hangup'
  }).then((res) => ({ res, callSid: params.CallSid! }))
}

async function caseOfCall(callSid: string) {
  const [row] = await ctx.query<{ reference: string }>(`select c.reference from cases c join messages m on m.case_id = c.id where m.provider_message_id = $1`, [callSid])
  return row!.reference
}

describe('a voicemail', () => {
  it('is acknowledged by text with its reference, from the number the caller rang', async () => {
    const from = '+447911556600'
    const before = api.texts.length
    const { res, callSid } = await leaveVoicemail(from)
    expect(res.statusCode, res.body).toBe(200)
    const reference = await caseOfCall(callSid)
    await expect.poll(() => api.texts.length, { timeout: 10_000, interval: 50 }).toBe(before + 1)
    const text = api.texts.at(-1)!
    expect(text.params).toMatchObject({ To: from, From: NUMBER })
    expect(text.params.Body).toContain(reference)
  })

  it('from a withheld number is not acknowledged', async () => {
    const before = await ctx.query<{ n: number }>(`select count(*)::int as n from messages where direction = 'outbound'`)
    const { res, callSid } = await leaveVoicemail('anonymous')
    expect(res.statusCode).toBe(200)
    await caseOfCall(callSid)
    expect(await ctx.query<{ n: number }>(`select count(*)::int as n from messages where direction = 'outbound'`)).toEqual(before)
  })
})
