import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { recordCallQueued, saveRecordingHalf } from '../../channels/twilio/call-recordings.js'
import { openCallCase, storeRecording } from '../../channels/twilio/receive-call.js'
import { requireTwilioSignature } from '../../channels/twilio/signature.js'
import {
  agentTwiml,
  CALL_QUEUED,
  CallState,
  callerPhone,
  councilOptions,
  emptyVoiceTwiml,
  enqueueTwiml,
  goodbyeTwiml,
  holdTwiml,
  MAX_ATTEMPTS,
  menuTwiml,
  pickOption,
  queueName,
  serviceOptions,
  TwilioVoiceBody,
  voicemailTwiml
} from '../../channels/twilio/voice.js'
import { AppError } from '../../errors.js'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import { answerVoiceErrorsInTwiml, PREFIX, twiml } from './twilio-voice-errors.js'

/**
 * Twilio's voice webhooks (registered under /channels/twilio/voice): the menu of a
 * partnership's number, the voicemail and its transcription, the queue for a person. Every
 * answer is TwiML (text/xml), errors included: an apology, then the voicemail while the
 * caller can still leave one, else goodbye. Admitted by Twilio's signature alone, checked
 * before anything is parsed further.
 */
export async function twilioVoiceRoutes(fastify: FastifyInstance, opts: { intake: IntakeBatcher }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { intake } = opts
  const { config, db, catalogue, queues } = app
  const tokens = [config.TWILIO_AUTH_TOKEN, config.TWILIO_AUTH_TOKEN_SECONDARY].filter((t): t is string => Boolean(t))
  const base = `${config.PUBLIC_BASE_URL}${PREFIX}`

  app.removeAllContentTypeParsers()
  await app.register(formbody)

  answerVoiceErrorsInTwiml(fastify, base)

  // every route here is Twilio's: its signature is checked once for the context, before the
  // parameters are validated, so an unsigned request learns nothing
  app.addHook('preValidation', requireTwilioSignature(config.PUBLIC_BASE_URL, tokens))
  const tags = ['voice channel']

  // what a call's answers do to cases (src/channels/twilio/receive-call.ts)
  const calls = { db, catalogue, queues, intake, log: app.log }

  app.post(
    '/',
    {
      schema: {
        tags,
        summary: "Twilio's incoming-call webhook",
        description: 'Signed by Twilio (X-Twilio-Signature). Answers the first menu of the called number in TwiML.',
        body: TwilioVoiceBody
      }
    },
    async (req, reply) => {
      const address = catalogue.inboundAddress('voice', req.body.To.trim())
      const councils = councilOptions(catalogue, address)
      const greeting = 'Hello, you have reached your council’s contact centre.'
      req.log.info({ withheld: callerPhone(req.body.From) === null, known: Boolean(address) }, 'voice call received')
      if (councils.length > 1) return twiml(reply, 200, menuTwiml(base, 'council', councils, { attempt: 1 }, { greeting }))
      const council = councils[0]?.value
      return twiml(reply, 200, menuTwiml(base, 'service', serviceOptions(catalogue), { attempt: 1, ...(council ? { council } : {}) }, { greeting }))
    }
  )

  app.post(
    '/menu',
    {
      schema: { tags, summary: 'A menu answer (Gather action)', querystring: CallState, body: TwilioVoiceBody }
    },
    async (req, reply) => {
      const state = req.query
      const step = state.step ?? 'council'
      const attempt = state.attempt ?? 1
      const address = catalogue.inboundAddress('voice', req.body.To.trim())
      const options = step === 'council' ? councilOptions(catalogue, address) : serviceOptions(catalogue)
      const choice = pickOption(options, req.body.Digits, req.body.SpeechResult)
      const choices = { ...(state.council ? { council: state.council } : {}), ...(state.service ? { service: state.service } : {}) }

      if (choice === 'agent') {
        const queue = queueName(address)
        const result = await openCallCase(calls, req.body, choices, CALL_QUEUED, null)
        if (result.opened) await recordCallQueued(db, result.caseId, req.body.CallSid, queue)
        req.log.info({ caseReference: result.reference, replayed: result.replayed }, 'voice call queued for an agent')
        return twiml(reply, 200, enqueueTwiml(base, queue))
      }
      if (!choice) {
        // silence, a key that means nothing (*#*) or words we did not understand
        if (attempt >= MAX_ATTEMPTS) return twiml(reply, 200, voicemailTwiml(base, choices, 'Sorry, I still did not catch that.'))
        return twiml(reply, 200, menuTwiml(base, step, options, { ...choices, attempt: attempt + 1 }, { reprompt: true }))
      }
      if (step === 'council') {
        return twiml(reply, 200, menuTwiml(base, 'service', serviceOptions(catalogue), { council: choice.value, attempt: 1 }))
      }
      return twiml(reply, 200, voicemailTwiml(base, { ...choices, service: choice.value }))
    }
  )

  app.post(
    '/recorded',
    {
      schema: { tags, summary: 'The voicemail (Record action)', querystring: CallState, body: TwilioVoiceBody }
    },
    async (req, reply) => {
      // Digits=hangup: the caller hung up while recording; the recording is kept all the same
      const result = await storeRecording(calls, req.body, req.query)
      req.log.info({ caseReference: result?.reference ?? null, replayed: result?.replayed ?? false, hungUp: req.body.Digits === 'hangup' }, 'voicemail received')
      return twiml(reply, 200, goodbyeTwiml(result?.reference ?? null))
    }
  )

  app.post(
    '/recording',
    {
      schema: { tags, summary: 'The recording status callback', querystring: CallState, body: TwilioVoiceBody }
    },
    async (req, reply) => {
      if (req.body.RecordingStatus === undefined || req.body.RecordingStatus === 'completed') await storeRecording(calls, req.body, req.query)
      return twiml(reply, 200, emptyVoiceTwiml())
    }
  )

  app.post(
    '/transcription',
    {
      schema: { tags, summary: 'The transcription callback', body: TwilioVoiceBody }
    },
    async (req, reply) => {
      const { RecordingSid, CallSid, TranscriptionStatus, TranscriptionText, RecordingUrl } = req.body
      if (!RecordingSid) throw new AppError('validation_failed', { field: 'RecordingSid' })
      const status = TranscriptionStatus === 'completed' ? 'completed' : 'failed'
      const updated = await saveRecordingHalf(db, {
        recordingSid: RecordingSid,
        callSid: CallSid,
        url: RecordingUrl || null,
        transcription: { status, text: status === 'completed' ? (TranscriptionText ?? '') : null }
      })
      req.log.info({ transcriptionStatus: status, messageUpdated: updated }, 'voicemail transcription received')
      return twiml(reply, 200, emptyVoiceTwiml())
    }
  )

  app.post(
    '/wait',
    { schema: { tags, summary: 'Hold music for a queued caller (Enqueue waitUrl)' } },
    async (_req, reply) => twiml(reply, 200, holdTwiml())
  )

  app.post(
    '/agent',
    {
      schema: {
        tags,
        summary: "An agent's phone takes the next caller of a partnership's queue",
        querystring: Type.Object({ partnership: Type.String({ pattern: '^[a-z0-9-]{1,64}$' }) })
      }
    },
    async (req, reply) => {
      const known = [...catalogue.inboundAddresses.values()].some((a) => a.channel === 'voice' && queueName(a) === req.query.partnership)
      if (!known) throw new AppError('not_found')
      return twiml(reply, 200, agentTwiml(req.query.partnership))
    }
  )
}
