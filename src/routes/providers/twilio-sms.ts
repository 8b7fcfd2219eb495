import formbody from '@fastify/formbody'
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { requireTwilioSignature } from '../../channels/twilio/signature.js'
import { receiveSms } from '../../channels/twilio/receive-sms.js'
import { TwilioSmsBody, TwilioSmsStatusBody } from '../../channels/twilio/sms.js'
import { messagingTwiml } from '../../channels/twilio/twiml.js'
import { AppError, errorCatalogue, isTransientInfraError, type ErrorCode } from '../../errors.js'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import { applyStatusReport } from '../../messaging/outbound.js'

const RETRY_AFTER_SECONDS = 5

/**
 * Twilio's webhooks (registered under /channels/twilio). Every answer is TwiML with
 * Content-Type text/xml, errors included: anything else (JSON, plain text) Twilio may text
 * to the resident. Requests are admitted by their signature, before their parameters are
 * even validated, and by nothing else: Twilio posts from many addresses, so the per-address
 * rate limits of the web channel do not apply here.
 */
export async function twilioRoutes(fastify: FastifyInstance, opts: { intake: IntakeBatcher }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { intake } = opts
  const { config, db, catalogue, queues } = app
  const tokens = [config.TWILIO_AUTH_TOKEN, config.TWILIO_AUTH_TOKEN_SECONDARY].filter((t): t is string => Boolean(t))
  if (!tokens.length) app.log.warn('TWILIO_AUTH_TOKEN is not set: every Twilio webhook will be refused (403)')

  // form bodies only, as Twilio sends them; JSON and the rest are 415
  app.removeAllContentTypeParsers()
  await app.register(formbody)

  const twiml = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/xml; charset=utf-8').send(body)
  const refuse = (reply: FastifyReply, code: ErrorCode) => {
    const status = errorCatalogue[code].status
    if (status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    // an empty Response: nothing is texted back, whatever went wrong
    return twiml(reply, status, messagingTwiml())
  }
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof AppError) return refuse(reply, err.code)
    if (err.validation) return refuse(reply, 'validation_failed')
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return refuse(reply, 'unsupported_media_type')
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return refuse(reply, 'payload_too_large')
    if (isTransientInfraError(err)) {
      req.log.warn({ err }, 'dependency unavailable; answered 503')
      return refuse(reply, 'temporarily_unavailable')
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return twiml(reply, err.statusCode, messagingTwiml())
    req.log.error({ err }, 'unhandled error in a Twilio webhook')
    return refuse(reply, 'internal_error')
  })
  app.setNotFoundHandler((_req, reply) => refuse(reply, 'not_found'))

  // every route here is Twilio's: its signature is checked once for the context, before the
  // parameters are validated, so an unsigned request learns nothing
  app.addHook('preValidation', requireTwilioSignature(config.PUBLIC_BASE_URL, tokens))
  const sms = { db, catalogue, queues, intake, pressure: app.intakePressure, threadWindowHours: config.SMS_THREAD_WINDOW_HOURS }

  app.post(
    '/sms',
    {
      schema: {
        tags: ['sms channel'],
        summary: "Twilio's incoming-message webhook",
        description: 'Signed by Twilio (X-Twilio-Signature). Answers TwiML: an acknowledgement with the case reference for a new report, nothing otherwise.',
        body: TwilioSmsBody
      }
    },
    // what the text does (opt-outs, intake, pictures, acknowledgement): src/channels/twilio/receive-sms.ts
    async (req, reply) => twiml(reply, 200, messagingTwiml(await receiveSms(sms, req.body, req.log)))
  )

  app.post(
    '/sms/status',
    {
      schema: {
        tags: ['sms channel'],
        summary: "Twilio's status callback for a text we sent",
        description: 'Signed by Twilio. A status only ever moves a message forward: a late "sent" does not undo "delivered".',
        body: TwilioSmsStatusBody
      }
    },
    async (req, reply) => {
      const detail = req.body.ErrorCode ? `Twilio error ${req.body.ErrorCode}` : null
      const moved = await applyStatusReport(db, 'twilio', req.body.MessageSid, req.body.MessageStatus.toLowerCase(), detail)
      req.log.debug({ status: req.body.MessageStatus, moved }, 'sms status report')
      return twiml(reply, 200, messagingTwiml())
    }
  )
}
