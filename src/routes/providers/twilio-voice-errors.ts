import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { apologyTwiml } from '../../channels/twilio/voice.js'
import { AppError, errorCatalogue, isTransientInfraError, type ErrorCode } from '../../errors.js'

const RETRY_AFTER_SECONDS = 5
export const PREFIX = '/channels/twilio/voice'
// the routes where a caller is still on the line listening: a failure there offers voicemail
const IVR_PATHS = new Set([PREFIX, `${PREFIX}/`, `${PREFIX}/menu`])

/** A TwiML answer (text/xml), as every answer of the voice webhooks is. */
export const twiml = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/xml; charset=utf-8').send(body)

/**
 * The voice webhooks' failures, answered in TwiML (twilio-voice.ts): an apology, then the
 * voicemail while the caller can still leave one (base: the webhooks' public URL), else
 * goodbye. Set on the voice context, its unknown paths included.
 */
export function answerVoiceErrorsInTwiml(app: FastifyInstance, base: string) {
  const refuse = (req: FastifyRequest, reply: FastifyReply, code: ErrorCode) => {
    const status = errorCatalogue[code].status
    if (status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    // a caller still in the menu may leave a voicemail; a refused or forged request gets none
    const path = (req.raw.url ?? req.url).split('?')[0] ?? ''
    const offerVoicemail = status >= 500 && IVR_PATHS.has(path)
    return twiml(reply, status, apologyTwiml(offerVoicemail ? base : null))
  }
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof AppError) return refuse(req, reply, err.code)
    if (err.validation) return refuse(req, reply, 'validation_failed')
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return refuse(req, reply, 'unsupported_media_type')
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return refuse(req, reply, 'payload_too_large')
    if (isTransientInfraError(err)) {
      req.log.warn({ err }, 'dependency unavailable; answered 503')
      return refuse(req, reply, 'temporarily_unavailable')
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return twiml(reply, err.statusCode, apologyTwiml(null))
    req.log.error({ err }, 'unhandled error in a Twilio voice webhook')
    return refuse(req, reply, 'internal_error')
  })
  app.setNotFoundHandler((req, reply) => refuse(req, reply, 'not_found'))
}
