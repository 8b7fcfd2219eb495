import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestContext } from '../helpers/context.js'
import { ACCOUNT_SID, postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'
import { createTwilioContext, type TwilioApiStandIn } from '../helpers/twilio-api.js'

// The pictures a resident sends by MMS are fetched from Twilio in the background, within a
// size and type allow-list; the text is stored and answered first, whatever becomes of them.

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')
const LIMIT = 64 * 1024

let ctx: TestContext
let api: TwilioApiStandIn
let close: () => Promise<void>
beforeAll(async () => {
  ;({ ctx, api, close } = await createTwilioContext({ MEDIA_MAX_BYTES: LIMIT }))
})
afterAll(async () => {
  await close?.()
})

const mediaPath = (n: number) => `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/MM${'a'.repeat(32)}/Media/ME${String(n).padStart(32, '0')}`

async function mediaOf(messageSid: string) {
  return ctx.query<{ position: number; state: string; content_type: string; size_bytes: number | null; detail: string | null; content: Buffer | null }>(
    `select mm.position, mm.state, mm.content_type, mm.size_bytes, mm.detail, mm.content
       from message_media mm join messages m on m.id = mm.message_id
      where m.provider_message_id = $1 order by mm.position`,
    [messageSid]
  )
}

describe('an MMS', () => {
  it('has its media fetched with the account’s credentials and kept, within the size and type allow-list', async () => {
    api.media.set(mediaPath(1), { contentType: 'image/png', body: PNG })
    api.media.set(mediaPath(2), { contentType: 'image/jpeg', body: Buffer.alloc(LIMIT + 1, 7) })
    api.media.set(mediaPath(3), { contentType: 'application/x-msdownload', body: Buffer.from('MZ') })
    api.media.set(mediaPath(4), { contentType: 'image/png', body: 'endless' })
    const urls = [1, 2, 3, 4].map((n) => `https://api.twilio.com${mediaPath(n)}`)
    const params = smsParams({
      From: '+447911334400',
      To: '+447700900200',
      Body: 'Fly-tipping at LE10 0FR, photos attached',
      NumMedia: '5',
      MediaUrl0: urls[0]!,
      MediaContentType0: 'image/png',
      MediaUrl1: urls[1]!,
      MediaContentType1: 'image/jpeg',
      MediaUrl2: urls[2]!,
      MediaContentType2: 'application/x-msdownload',
      MediaUrl3: urls[3]!,
      MediaContentType3: 'image/png',
      // not Twilio's: never fetched
      MediaUrl4: 'https://evil.example.com/collect',
      MediaContentType4: 'image/png'
    })
    const res = await postTwilio(ctx, '/channels/twilio/sms', params)
    expect(res.statusCode, res.body).toBe(200)

    await expect.poll(async () => (await mediaOf(params.MessageSid as string)).every((m) => m.state !== 'pending'), { timeout: 15_000, interval: 100 }).toBe(true)
    const media = await mediaOf(params.MessageSid as string)
    expect(media.map((m) => [m.position, m.state])).toEqual([
      [0, 'stored'],
      [1, 'refused'],
      [2, 'refused'],
      [3, 'refused'],
      [4, 'refused']
    ])
    expect(media[0]).toMatchObject({ content_type: 'image/png', size_bytes: PNG.length })
    expect(media[0]!.content!.equals(PNG)).toBe(true)
    expect(media[1]!.detail).toMatch(/limit/)
    expect(media[2]!.detail).toMatch(/not kept/)
    expect(media[3]!.detail).toMatch(/limit/)
    expect(media[4]!.detail).toMatch(/not a Twilio media URL/)
    for (const m of media.slice(1)) expect(m.content).toBeNull()
    // fetched with the account's credentials, and only from Twilio
    expect(api.mediaRequests.length).toBe(4)
    for (const auth of api.mediaRequests) expect(auth).toBe(`Basic ${Buffer.from(`${ACCOUNT_SID}:${TWILIO_TOKEN}`).toString('base64')}`)

    // a replay of the MMS fetches nothing again
    await postTwilio(ctx, '/channels/twilio/sms', params)
    expect((await mediaOf(params.MessageSid as string)).length).toBe(5)
  })
})
