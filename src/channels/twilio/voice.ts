import twilio from 'twilio'
import Type, { type Static } from 'typebox'
import { twilioSenderPhone } from './numbers.js'
import type { Catalogue, InboundAddress } from '../../catalogue/catalogue.js'

/*
 * The telephone menu (IVR) of a partnership's number, as pure functions: which council,
 * which service, then a voicemail or the queue for a person. The call's state travels in
 * the query of each action URL (Twilio signs the URL it calls, query included), so nothing
 * is kept between a caller's key presses.
 */

const Sid = (prefix: string) => Type.String({ pattern: `^${prefix}[0-9a-fA-F]{32}$` })

/** Every voice webhook carries these; Twilio adds more when it likes, all signed and kept. */
export const TwilioVoiceBody = Type.Object(
  {
    CallSid: Sid('CA'),
    AccountSid: Sid('AC'),
    // a withheld number still arrives as something ('anonymous', 'Restricted', ...)
    From: Type.String({ maxLength: 64 }),
    To: Type.String({ minLength: 1, maxLength: 64 }),
    CallStatus: Type.Optional(Type.String({ maxLength: 32 })),
    Digits: Type.Optional(Type.String({ maxLength: 32 })),
    SpeechResult: Type.Optional(Type.String({ maxLength: 1_000 })),
    RecordingSid: Type.Optional(Sid('RE')),
    RecordingUrl: Type.Optional(Type.String({ maxLength: 1_000 })),
    RecordingDuration: Type.Optional(Type.String({ pattern: '^-?[0-9]{1,6}$' })),
    RecordingStatus: Type.Optional(Type.String({ maxLength: 32 })),
    TranscriptionStatus: Type.Optional(Type.String({ maxLength: 32 })),
    TranscriptionText: Type.Optional(Type.String({ maxLength: 20_000 }))
  },
  { additionalProperties: true }
)
export type TwilioVoiceBody = Static<typeof TwilioVoiceBody> & Record<string, unknown>

/** What the caller chose so far, carried in the action URLs' query. */
export const CallState = Type.Object({
  step: Type.Optional(Type.Union([Type.Literal('council'), Type.Literal('service')])),
  attempt: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  council: Type.Optional(Type.String({ pattern: '^[EWSN][0-9]{8}$' })),
  service: Type.Optional(Type.String({ pattern: '^[a-z_]{1,64}$' }))
})
export type CallState = Static<typeof CallState>

/** Silences or wrong keys heard before the caller is offered a voicemail instead. */
export const MAX_ATTEMPTS = 3
export const VOICEMAIL_MAX_SECONDS = 120
export const LANGUAGE = 'en-GB' as const

/** Message bodies of a voicemail until, and unless, its words arrive. */
export const VOICEMAIL_PENDING = '(voicemail, transcription pending)'
export const VOICEMAIL_FAILED = '(voicemail, transcription failed)'
export const CALL_QUEUED = '(phone call, queued for an agent)'


/** The caller's number when the network gave a real one; withheld or malformed: null. */
export function callerPhone(from: string): string | null {
  return twilioSenderPhone(from)
}

export interface MenuOption {
  digit: string
  /** what is said for it */
  label: string
  /** council GSS or service code */
  value: string
  /** spoken words that choose it, lower case */
  phrases: string[]
}

// words too common across council and service names to tell one from another
const FILLER = new Set(['london', 'borough', 'of', 'council', 'city', 'royal', 'and', 'the', 'district', 'metropolitan', 'county', 'or', 'enquiry'])

const words = (text: string) => text.toLowerCase().split(/[^a-z0-9-]+/).filter((w) => w && !FILLER.has(w))

/** The councils a number's menu offers: its own council, or its partnership's (by name), at most nine. */
export function councilOptions(catalogue: Catalogue, address: InboundAddress | null): MenuOption[] {
  if (!address) return []
  const councils = address.councilGss
    ? [catalogue.councils.get(address.councilGss)].filter((c) => c !== undefined)
    : [...catalogue.councils.values()].filter((c) => address.partnershipId && c.partnerships.includes(address.partnershipId))
  return councils
    .sort((a, b) => a.name.localeCompare(b.name, 'en-GB'))
    .slice(0, 9)
    .map((c, i) => ({ digit: String(i + 1), label: c.name, value: c.gss, phrases: [...words(c.name), c.shortName.toLowerCase()] }))
}

/** The services most calls are about, then "anything else". */
export const MENU_SERVICES = ['missed_bin', 'pothole', 'council_tax', 'housing_repair', 'general_enquiry'] as const

export function serviceOptions(catalogue: Catalogue): MenuOption[] {
  return MENU_SERVICES.map((code) => catalogue.services.get(code))
    .filter((s) => s !== undefined)
    .map((s, i) => ({
      digit: String(i + 1),
      label: s.code === 'general_enquiry' ? 'anything else' : s.name.toLowerCase(),
      value: s.code,
      phrases: s.code === 'general_enquiry' ? ['anything else', 'something else', 'other', 'general'] : [...s.keywords.map((k) => k.toLowerCase()), ...words(s.name)]
    }))
}

const DIGIT_WORDS: Record<string, string> = { zero: '0', oh: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9' }
const AGENT_PHRASES = ['someone', 'somebody', 'person', 'operator', 'agent', 'advisor', 'adviser', 'human']

/** The option a key press or spoken answer picks; 'agent' for 0 or "speak to someone"; null when unclear. */
export function pickOption(options: readonly MenuOption[], digits: string | undefined, speech: string | undefined): MenuOption | 'agent' | null {
  const key = (digits ?? '').trim()
  if (key) {
    if (key === '0') return 'agent'
    return options.find((o) => o.digit === key) ?? null
  }
  const said = ` ${(speech ?? '').toLowerCase().replace(/[^a-z0-9-]+/g, ' ').trim()} `
  if (said.trim() === '') return null
  const tokens = said.trim().split(' ')
  // "three", "3" or "option 3" said aloud
  const spokenDigit = tokens.map((t) => DIGIT_WORDS[t] ?? (/^[0-9]$/.test(t) ? t : null)).find((d) => d !== null)
  const byName = options.find((o) => o.phrases.some((p) => said.includes(` ${p} `)))
  if (byName) return byName
  if (AGENT_PHRASES.some((p) => tokens.includes(p))) return 'agent'
  if (spokenDigit === '0') return 'agent'
  return spokenDigit ? (options.find((o) => o.digit === spokenDigit) ?? null) : null
}

/** An action URL under the voice routes with the call's state in its query. */
export function voiceUrl(base: string, path: string, state: CallState = {}): string {
  const query = new URLSearchParams()
  for (const key of ['step', 'attempt', 'council', 'service'] as const) {
    const value = state[key]
    if (value !== undefined) query.set(key, String(value))
  }
  const qs = query.toString()
  return `${base}${path}${qs ? `?${qs}` : ''}`
}

const say = (node: { say(attributes: { language: typeof LANGUAGE }, message: string): unknown }, text: string) => node.say({ language: LANGUAGE }, text)

/** A menu: the question, then the options, inside a Gather that takes keys or speech. */
export function menuTwiml(base: string, step: 'council' | 'service', options: readonly MenuOption[], state: CallState, opts: { greeting?: string; reprompt?: boolean } = {}): string {
  const response = new twilio.twiml.VoiceResponse()
  const gather = response.gather({
    input: ['dtmf', 'speech'],
    numDigits: 1,
    timeout: 6,
    speechTimeout: 'auto',
    language: LANGUAGE,
    actionOnEmptyResult: true,
    hints: options.flatMap((o) => o.phrases).slice(0, 50).join(', '),
    action: voiceUrl(base, '/menu', { ...state, step }),
    method: 'POST'
  })
  if (opts.greeting) say(gather, opts.greeting)
  if (opts.reprompt) say(gather, 'Sorry, I did not catch that.')
  const question = step === 'council' ? 'Which council is your call about?' : 'What is your call about?'
  const choices = options.map((o) => `For ${o.label}, press ${o.digit}.`).join(' ')
  say(gather, `${question} ${choices} To speak to someone, press 0. You can also say your answer.`)
  // a Gather that ends without input posts to its action (actionOnEmptyResult); this is only
  // reached if it does not
  response.redirect({ method: 'POST' }, voiceUrl(base, '/menu', { ...state, step }))
  return response.toString()
}

/** The voicemail: a prompt, then Record with transcription; a goodbye if nothing was said. */
export function voicemailTwiml(base: string, state: CallState, intro?: string): string {
  const response = new twilio.twiml.VoiceResponse()
  if (intro) say(response, intro)
  say(response, 'Please leave your message after the tone, with your address or postcode and how to contact you. Press the hash key when you have finished.')
  const choice = { ...(state.council ? { council: state.council } : {}), ...(state.service ? { service: state.service } : {}) }
  response.record({
    action: voiceUrl(base, '/recorded', choice),
    method: 'POST',
    maxLength: VOICEMAIL_MAX_SECONDS,
    playBeep: true,
    finishOnKey: '#',
    transcribe: true,
    transcribeCallback: voiceUrl(base, '/transcription'),
    recordingStatusCallback: voiceUrl(base, '/recording', choice),
    recordingStatusCallbackMethod: 'POST'
  })
  // Record falls through to here when the caller said nothing
  say(response, 'We did not receive a message. Goodbye.')
  response.hangup()
  return response.toString()
}

/** The caller waits in the partnership's queue for the next agent. */
export function enqueueTwiml(base: string, queue: string): string {
  const response = new twilio.twiml.VoiceResponse()
  say(response, 'Please hold while we connect you to an adviser.')
  response.enqueue({ waitUrl: voiceUrl(base, '/wait'), waitUrlMethod: 'POST' }, queue)
  return response.toString()
}

/** What a queued caller hears while waiting; Twilio asks again when it ends. */
export function holdTwiml(): string {
  const response = new twilio.twiml.VoiceResponse()
  say(response, 'Thank you for waiting. All our advisers are busy; please stay on the line and you will be connected shortly.')
  response.pause({ length: 20 })
  return response.toString()
}

/** An agent's phone takes the next caller in the queue. */
export function agentTwiml(queue: string): string {
  const response = new twilio.twiml.VoiceResponse()
  response.dial().queue(queue)
  return response.toString()
}

/** After a voicemail: thanks, the case reference read out character by character, goodbye. */
export function goodbyeTwiml(reference: string | null): string {
  const response = new twilio.twiml.VoiceResponse()
  const spoken = reference ? ` Your reference is ${reference.split('-').map((part) => part.split('').join(' ')).join(', ')}.` : ''
  say(response, `Thank you, your message has been passed to the council.${spoken} Goodbye.`)
  response.hangup()
  return response.toString()
}

/** Something went wrong: an apology, then the voicemail when it can still be offered, else goodbye. */
export function apologyTwiml(voicemailBase: string | null, state: CallState = {}): string {
  const apology = 'Sorry, something went wrong on our side.'
  if (voicemailBase) return voicemailTwiml(voicemailBase, state, apology)
  const response = new twilio.twiml.VoiceResponse()
  say(response, `${apology} Please call again later. Goodbye.`)
  response.hangup()
  return response.toString()
}

/** An empty Response: for callbacks whose answer Twilio ignores. */
export function emptyVoiceTwiml(): string {
  return new twilio.twiml.VoiceResponse().toString()
}

/** The queue a number's callers wait in: its partnership's, else its council's. */
export function queueName(address: InboundAddress | null): string {
  return address?.partnershipId ?? address?.councilGss ?? 'switchboard'
}

/** A recording worth keeping: a URL and more than zero seconds. */
export function hasRecording(body: Pick<TwilioVoiceBody, 'RecordingUrl' | 'RecordingSid' | 'RecordingDuration'>): boolean {
  return Boolean(body.RecordingUrl && body.RecordingSid) && Number(body.RecordingDuration ?? '0') > 0
}
