import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pickOption, type MenuOption } from '../../src/channels/twilio/voice.js'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { tableCounts } from '../helpers/pipeline.js'
import { callSid, formBody, postTwilio, recordingSid, TWILIO_TOKEN, voiceParams } from '../helpers/twilio.js'
import { HAMMERSMITH, WESTMINSTER } from '../helpers/councils.js'

// Calls as Twilio really makes them: signed form POSTs, each answered with TwiML the caller hears.

const TRI_BOROUGH = '+447700900100' // Westminster, Hammersmith and Fulham, Kensington and Chelsea
const ONE_CONNECT = '+447700900500' // Lancashire only: no council menu
const CALLER = '+447911123460'
const TABLES = ['raw_inbound', 'cases', 'messages', 'case_events', 'call_recordings', 'contact_points']
const VOICE = '/channels/twilio/voice'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN })
})
afterAll(async () => {
  await ctx?.close()
})

type Res = { statusCode: number; headers: Record<string, unknown>; body: string }

function expectTwiml(res: Res, status: number) {
  expect(res.statusCode, res.body).toBe(status)
  expect(String(res.headers['content-type'])).toMatch(/^text\/xml/)
  expect(res.body.startsWith('<?xml version="1.0" encoding="UTF-8"?><Response')).toBe(true)
  expect(res.body.endsWith('</Response>') || res.body.endsWith('<Response/>')).toBe(true)
}

const unescape = (s: string) => s.replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>')

/** The path (and query) of a verb's URL attribute in TwiML, as Twilio would call it. */
function urlOf(twiml: string, verb: string, attribute = 'action'): string {
  const match = new RegExp(`<${verb}\\b[^>]*\\s${attribute}="([^"]+)"`).exec(twiml)
  expect(match, `${verb} ${attribute} in ${twiml}`).not.toBeNull()
  const url = unescape(match![1]!)
  expect(url.startsWith(ctx.config.PUBLIC_BASE_URL)).toBe(true)
  return url.slice(ctx.config.PUBLIC_BASE_URL.length)
}

/** The key the menu says to press for `label`. */
function digitFor(twiml: string, label: string): string {
  const match = new RegExp(`For ${label}, press (\\d)`).exec(twiml)
  expect(match, `${label} in ${twiml}`).not.toBeNull()
  return match![1]!
}

const post = (path: string, params: Record<string, string | string[]>) => postTwilio(ctx, path, params)

async function messagesOfCall(sid: string) {
  return ctx.query<{ body: string; media: { url: string; content_type: string }[]; sender: string; recipient: string; case_id: number }>(
    `select body, media, sender, recipient, case_id from messages where provider = 'twilio' and provider_message_id = $1`,
    [sid]
  )
}

async function caseOfCall(sid: string) {
  const rows = await ctx.query<{ id: number; reference: string; channel: string; requested_council_gss: string | null; requested_service_code: string | null; reported_phone: string | null; contacted_address: string | null }>(
    `select c.id, c.reference, c.channel, c.requested_council_gss, c.requested_service_code, c.reported_phone, c.contacted_address
       from cases c join raw_inbound r on r.case_id = c.id where r.provider = 'twilio' and r.provider_message_id = $1`,
    [sid]
  )
  return rows[0]
}

/** Dials in, picks Westminster and potholes by key, and returns the Record TwiML. */
async function callToVoicemail(params: Record<string, string>) {
  const incoming = await post(VOICE, params)
  expectTwiml(incoming, 200)
  const council = await post(urlOf(incoming.body, 'Gather'), { ...params, Digits: digitFor(incoming.body, 'Westminster City Council') })
  expectTwiml(council, 200)
  const service = await post(urlOf(council.body, 'Gather'), { ...params, Digits: digitFor(council.body, 'pothole or road defect') })
  expectTwiml(service, 200)
  return service.body
}

function recordingParams(params: Record<string, string>, sid: string, over: Record<string, string> = {}) {
  return { ...params, RecordingSid: sid, RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${params.AccountSid}/Recordings/${sid}`, RecordingDuration: '14', Digits: '#', ...over }
}

function transcriptionParams(params: Record<string, string>, sid: string, over: Record<string, string> = {}) {
  return {
    AccountSid: params.AccountSid!,
    CallSid: params.CallSid!,
    From: params.From!,
    To: params.To!,
    RecordingSid: sid,
    RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${params.AccountSid}/Recordings/${sid}`,
    TranscriptionSid: `TR${sid.slice(2)}`,
    TranscriptionStatus: 'completed',
    TranscriptionText: 'There is a deep pothole outside 10 Downing Street, SW1A 2AA.',
    TranscriptionType: 'fast',
    ...over
  }
}

describe('a call through the menu to voicemail', () => {
  it('asks in British English by keys or speech, then records with transcription', async () => {
    const params = voiceParams({ From: CALLER, To: TRI_BOROUGH }) as Record<string, string>
    const incoming = await post(VOICE, params)
    expectTwiml(incoming, 200)
    expect(incoming.body).toMatch(/<Gather [^>]*input="dtmf speech"/)
    expect(incoming.body).toMatch(/<Gather [^>]*language="en-GB"/)
    expect(incoming.body).toMatch(/<Say language="en-GB">/)
    for (const name of ['Westminster City Council', 'Royal Borough of Kensington and Chelsea', 'London Borough of Hammersmith and Fulham']) expect(incoming.body).toContain(name)
    expect(incoming.body).not.toContain('Brent')

    const record = await callToVoicemail(params)
    expect(record).toMatch(/<Record [^>]*transcribe="true"/)
    expect(record).toMatch(/<Record [^>]*maxLength="120"/)
    expect(record).toMatch(/<Record [^>]*playBeep="true"/)
    expect(urlOf(record, 'Record', 'transcribeCallback')).toBe(`${VOICE}/transcription`)
    expect(urlOf(record, 'Record', 'recordingStatusCallback')).toMatch(/^\/channels\/twilio\/voice\/recording\?/)
    expect(urlOf(record, 'Record')).toBe(`${VOICE}/recorded?council=E09000033&service=pothole`)
  })

  it.each([
    ['recording first', false],
    ['transcription first', true]
  ])('makes one case whose message holds the recording link and the transcription (%s)', async (_order, transcriptionFirst) => {
    const params = voiceParams({ From: CALLER, To: TRI_BOROUGH }) as Record<string, string>
    const record = await callToVoicemail(params)
    const sid = recordingSid()
    const transcribe = () => post(urlOf(record, 'Record', 'transcribeCallback'), transcriptionParams(params, sid))

    if (transcriptionFirst) {
      expectTwiml(await transcribe(), 200)
      expect(await messagesOfCall(params.CallSid!)).toEqual([])
    }
    const recorded = await post(urlOf(record, 'Record'), recordingParams(params, sid))
    expectTwiml(recorded, 200)
    expect(recorded.body).toContain('<Hangup/>')
    const opened = await caseOfCall(params.CallSid!)
    expect(opened).toMatchObject({ channel: 'voice', requested_council_gss: WESTMINSTER, requested_service_code: 'pothole', reported_phone: CALLER, contacted_address: TRI_BOROUGH })
    // the goodbye reads out the case's reference
    expect(recorded.body).toContain(opened!.reference.split('-')[1]!.split('').join(' '))
    if (!transcriptionFirst) {
      const [pending] = await messagesOfCall(params.CallSid!)
      expect(pending!.body).toBe('(voicemail, transcription pending)')
      expectTwiml(await transcribe(), 200)
    }
    // the recording status callback comes too, in its own time: still one message
    expectTwiml(await post(urlOf(record, 'Record', 'recordingStatusCallback'), recordingParams(params, sid, { RecordingStatus: 'completed' })), 200)

    const messages = await messagesOfCall(params.CallSid!)
    expect(messages).toHaveLength(1)
    expect(messages[0]).toMatchObject({
      body: 'There is a deep pothole outside 10 Downing Street, SW1A 2AA.',
      media: [{ url: recordingParams(params, sid).RecordingUrl, content_type: 'audio/wav' }],
      sender: CALLER,
      recipient: TRI_BOROUGH
    })
    // the caller's number is proven: Twilio signed the call
    const [point] = await ctx.query<{ verified: boolean }>(`select verified from contact_points where kind = 'phone' and value = $1`, [CALLER])
    expect(point?.verified).toBe(true)
  })

  it('records a failed transcription as such, the recording kept', async () => {
    const params = voiceParams({ From: '+447911123461', To: TRI_BOROUGH }) as Record<string, string>
    const record = await callToVoicemail(params)
    const sid = recordingSid()
    expectTwiml(await post(urlOf(record, 'Record'), recordingParams(params, sid)), 200)
    expectTwiml(await post(`${VOICE}/transcription`, transcriptionParams(params, sid, { TranscriptionStatus: 'failed', TranscriptionText: '' })), 200)
    const [message] = await messagesOfCall(params.CallSid!)
    expect(message!.body).toBe('(voicemail, transcription failed)')
    expect(message!.media).toHaveLength(1)
    const [row] = await ctx.query<{ transcription_status: string }>('select transcription_status from call_recordings where recording_sid = $1', [sid])
    expect(row!.transcription_status).toBe('failed')
  })

  it('answers a replayed record action the same, with no second message', async () => {
    const params = voiceParams({ From: '+447911123462', To: TRI_BOROUGH }) as Record<string, string>
    const record = await callToVoicemail(params)
    const recording = recordingParams(params, recordingSid())
    const first = await post(urlOf(record, 'Record'), recording)
    const before = await tableCounts(ctx, TABLES)
    const again = await post(urlOf(record, 'Record'), recording)
    expectTwiml(again, 200)
    expect(again.body).toBe(first.body)
    expect(await tableCounts(ctx, TABLES)).toEqual(before)
    expect(await messagesOfCall(params.CallSid!)).toHaveLength(1)
  })

  it('keeps the recording of a caller who hung up while recording (Digits=hangup)', async () => {
    const params = voiceParams({ From: '+447911123463', To: TRI_BOROUGH }) as Record<string, string>
    const record = await callToVoicemail(params)
    const recording = recordingParams(params, recordingSid(), { Digits: 'hangup', CallStatus: 'completed' })
    expectTwiml(await post(urlOf(record, 'Record'), recording), 200)
    const [message] = await messagesOfCall(params.CallSid!)
    expect(message!.media).toEqual([{ url: recording.RecordingUrl, content_type: 'audio/wav' }])
  })

  it.each([
    ['a zero-second recording', { RecordingDuration: '0' }],
    ['no recording URL', { RecordingUrl: '' }]
  ])('stores no message for %s, and says goodbye', async (_what, over) => {
    const params = voiceParams({ From: '+447911123464', To: TRI_BOROUGH }) as Record<string, string>
    const record = await callToVoicemail(params)
    const before = await tableCounts(ctx, TABLES)
    const res = await post(urlOf(record, 'Record'), recordingParams(params, recordingSid(), over))
    expectTwiml(res, 200)
    expect(res.body).toContain('<Hangup/>')
    expect(await tableCounts(ctx, TABLES)).toEqual(before)
  })
})

describe('menu answers', () => {
  it('takes the council and the service by speech', async () => {
    const params = voiceParams({ From: '+447911123465', To: TRI_BOROUGH }) as Record<string, string>
    const incoming = await post(VOICE, params)
    const council = await post(urlOf(incoming.body, 'Gather'), { ...params, SpeechResult: 'Westminster please.', Confidence: '0.91' })
    expectTwiml(council, 200)
    expect(urlOf(council.body, 'Gather')).toContain('council=E09000033')
    const service = await post(urlOf(council.body, 'Gather'), { ...params, SpeechResult: 'Pothole', Confidence: '0.88' })
    expectTwiml(service, 200)
    expect(urlOf(service.body, 'Record')).toBe(`${VOICE}/recorded?council=E09000033&service=pothole`)
  })

  it('skips the council question on a number with one council', async () => {
    const params = voiceParams({ From: '+447911123466', To: ONE_CONNECT }) as Record<string, string>
    const incoming = await post(VOICE, params)
    expectTwiml(incoming, 200)
    expect(incoming.body).toContain('What is your call about?')
    expect(urlOf(incoming.body, 'Gather')).toContain('council=E10000017')
  })

  it('re-prompts on silence or unknown keys, then offers voicemail', async () => {
    const params = voiceParams({ From: '+447911123467', To: TRI_BOROUGH }) as Record<string, string>
    const incoming = await post(VOICE, params)
    const second = await post(urlOf(incoming.body, 'Gather'), { ...params, Digits: '*#*' })
    expectTwiml(second, 200)
    expect(second.body).toContain('Sorry, I did not catch that.')
    expect(urlOf(second.body, 'Gather')).toContain('attempt=2')
    // an empty Gather: no Digits, no SpeechResult
    const third = await post(urlOf(second.body, 'Gather'), params)
    expectTwiml(third, 200)
    expect(urlOf(third.body, 'Gather')).toContain('attempt=3')
    const unknown = await post(urlOf(third.body, 'Gather'), { ...params, Digits: '8' })
    expectTwiml(unknown, 200)
    expect(unknown.body).not.toContain('<Gather')
    expect(urlOf(unknown.body, 'Record')).toBe(`${VOICE}/recorded`)
    // still nothing stored: no message was left yet
    expect(await caseOfCall(params.CallSid!)).toBeUndefined()
  })

  it('queues a caller who presses 0 for the partnership’s agents, logged on the case as a call', async () => {
    const params = voiceParams({ From: '+447911123468', To: TRI_BOROUGH }) as Record<string, string>
    const incoming = await post(VOICE, params)
    const res = await post(urlOf(incoming.body, 'Gather'), { ...params, Digits: '0' })
    expectTwiml(res, 200)
    expect(res.body).toMatch(/<Enqueue [^>]*>tri-borough<\/Enqueue>/)
    const wait = await post(urlOf(res.body, 'Enqueue', 'waitUrl'), { ...params, QueueSid: `QU${'1'.repeat(32)}`, QueuePosition: '1' })
    expectTwiml(wait, 200)
    expect(wait.body).toContain('<Say language="en-GB">')
    const opened = await caseOfCall(params.CallSid!)
    expect(opened?.channel).toBe('voice')
    const events = await ctx.query<{ type: string; data: Record<string, unknown> }>('select type, data from case_events where case_id = $1 order by id', [opened!.id])
    expect(events.map((e) => e.type)).toEqual(['case.opened', 'call.queued'])
    expect(events[1]!.data).toEqual({ call_sid: params.CallSid, queue: 'tri-borough' })
    // the replayed answer queues again but logs nothing twice
    expectTwiml(await post(urlOf(incoming.body, 'Gather'), { ...params, Digits: '0' }), 200)
    expect(await ctx.query('select 1 from case_events where case_id = $1', [opened!.id])).toHaveLength(2)

    const agent = await post(`${VOICE}/agent?partnership=tri-borough`, { AccountSid: params.AccountSid!, CallSid: callSid(), From: '+447911000001', To: TRI_BOROUGH })
    expectTwiml(agent, 200)
    expect(agent.body).toContain('<Dial><Queue>tri-borough</Queue></Dial>')
    expectTwiml(await post(`${VOICE}/agent?partnership=nowhere`, { AccountSid: params.AccountSid!, CallSid: callSid() }), 404)
  })

  it('understands spoken names, digits and asking for a person', () => {
    const councils: MenuOption[] = [
      { digit: '1', label: 'London Borough of Hammersmith and Fulham', value: HAMMERSMITH, phrases: ['hammersmith', 'fulham', 'lbhf'] },
      { digit: '2', label: 'Westminster City Council', value: WESTMINSTER, phrases: ['westminster', 'wcc'] }
    ]
    expect(pickOption(councils, undefined, 'Westminster')).toMatchObject({ value: WESTMINSTER })
    expect(pickOption(councils, undefined, 'um, Fulham I think')).toMatchObject({ value: HAMMERSMITH })
    expect(pickOption(councils, undefined, 'two')).toMatchObject({ value: WESTMINSTER })
    expect(pickOption(councils, undefined, 'can I speak to someone')).toBe('agent')
    expect(pickOption(councils, '0', undefined)).toBe('agent')
    expect(pickOption(councils, '*#*', undefined)).toBeNull()
    expect(pickOption(councils, undefined, 'Camden')).toBeNull()
    expect(pickOption(councils, '', '')).toBeNull()
  })
})

describe('withheld numbers', () => {
  it.each(['anonymous', 'Restricted', '+266696687'])('%s is an unknown caller: no phone, the raw sender kept', async (from) => {
    const params = voiceParams({ From: from, To: TRI_BOROUGH }) as Record<string, string>
    const record = await callToVoicemail(params)
    expectTwiml(await post(urlOf(record, 'Record'), recordingParams(params, recordingSid())), 200)
    const opened = await caseOfCall(params.CallSid!)
    expect(opened?.reported_phone).toBeNull()
    const [message] = await messagesOfCall(params.CallSid!)
    expect(message!.sender).toBe(from)
    expect(await ctx.query(`select 1 from contact_points where kind = 'phone' and value like $1`, [`%${from.replace('+', '')}%`])).toEqual([])
  })
})

describe('bad input on the voice routes', () => {
  it('refuses a missing or forged signature with 403 TwiML, storing nothing', async () => {
    const params = voiceParams({ From: '+447911123469', To: TRI_BOROUGH }) as Record<string, string>
    const sid = recordingSid()
    const before = await tableCounts(ctx, TABLES)
    for (const [path, p] of [
      [VOICE, params],
      [`${VOICE}/menu?step=council&attempt=1`, { ...params, Digits: '0' }],
      [`${VOICE}/recorded?council=E09000033`, recordingParams(params, sid)],
      [`${VOICE}/transcription`, transcriptionParams(params, sid)]
    ] as const) {
      const missing = await postTwilio(ctx, path, p, { token: null })
      expectTwiml(missing, 403)
      expect(missing.body).toContain('<Hangup/>')
      expectTwiml(await postTwilio(ctx, path, p, { token: 'some-other-account-token-000000' }), 403)
      // signed for one thing, sent with another
      expectTwiml(await postTwilio(ctx, path, p, { body: formBody({ ...p, From: '+447911999999' }) }), 403)
    }
    expect(await tableCounts(ctx, TABLES)).toEqual(before)
  })

  it('answers TwiML on 400, 404, 413 and 415 too', async () => {
    const params = voiceParams({ From: CALLER, To: TRI_BOROUGH }) as Record<string, string>
    expectTwiml(await post(VOICE, { ...params, CallSid: 'CA-not-a-sid' }), 400)
    expectTwiml(await post(`${VOICE}/menu?attempt=many`, params), 400)
    expectTwiml(await post(`${VOICE}/nowhere`, params), 404)
    expectTwiml(await postTwilio(ctx, VOICE, params, { body: JSON.stringify(params), contentType: 'application/json' }), 415)
    expectTwiml(await post(VOICE, { ...params, Padding: 'x'.repeat(ctx.config.BODY_LIMIT_BYTES + 10) }), 413)
  })

  it('apologises in TwiML on a 500: voicemail while the caller is in the menu, goodbye after', async () => {
    // real failures in Postgres, no mocks: a trigger refuses the queue log, a missing table the recording
    const params = voiceParams({ From: '+447911123470', To: TRI_BOROUGH }) as Record<string, string>
    await ctx.query(`create function voice_test_fail() returns trigger language plpgsql as $$ begin raise exception 'test failure'; end $$`)
    await ctx.query(`create trigger voice_test_fail before insert on case_events for each row when (new.type = 'call.queued') execute function voice_test_fail()`)
    try {
      const res = await post(`${VOICE}/menu?step=council&attempt=1`, { ...params, Digits: '0' })
      expectTwiml(res, 500)
      expect(res.body).toContain('Sorry, something went wrong')
      expect(res.body).toContain('<Record ')
    } finally {
      await ctx.query('drop trigger voice_test_fail on case_events')
      await ctx.query('drop function voice_test_fail()')
    }

    const other = voiceParams({ From: '+447911123471', To: TRI_BOROUGH }) as Record<string, string>
    const sid = recordingSid()
    await ctx.query('alter table call_recordings rename to call_recordings_away')
    try {
      const res = await post(`${VOICE}/recorded`, recordingParams(other, sid))
      expectTwiml(res, 500)
      expect(res.body).toContain('Sorry, something went wrong')
      expect(res.body).toContain('<Hangup/>')
      expect(res.body).not.toContain('<Record')
    } finally {
      await ctx.query('alter table call_recordings_away rename to call_recordings')
    }
    // with the table back, Twilio's recording status callback still files the voicemail
    expectTwiml(await post(`${VOICE}/recording`, recordingParams(other, sid, { RecordingStatus: 'completed' })), 200)
    expect(await ctx.query('select call_sid from call_recordings where recording_sid = $1', [sid])).toEqual([{ call_sid: other.CallSid }])
    expect(await messagesOfCall(other.CallSid!)).toHaveLength(1)
  })
})
