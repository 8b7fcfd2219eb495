import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError, errorCatalogue, isTransientInfraError, type ErrorCode } from '../errors.js'
import { describePattern } from '../lib/schema.js'

export const ErrorBody = {
  type: 'object',
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
    request_id: { type: 'string' }
  },
  required: ['code', 'message', 'request_id']
} as const

const RETRY_AFTER_SECONDS = 5

/** Answers with a catalogue error: its status, code and message, the field at fault, the request id. */
export function send(reply: FastifyReply, req: FastifyRequest, code: ErrorCode, field?: string, message?: string) {
  const status = errorCatalogue[code].status
  if (status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
  return reply.code(status).send({
    code,
    message: message ?? errorCatalogue[code].message,
    ...(field ? { field } : {}),
    request_id: req.id
  })
}

/** Maps every error to the catalogue: a stable code, the field at fault, and no internals. */
export const errorHandler = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof AppError) return send(reply, req, err.code, err.field, err.message)
    if (err.validation) {
      const first = err.validation[0]
      const params = first?.params as { missingProperty?: string; additionalProperty?: string; pattern?: string } | undefined
      const missing = params?.missingProperty ?? params?.additionalProperty
      const path = first?.instancePath?.replace(/^\//, '').replaceAll('/', '.')
      const field = missing ? [path, missing].filter(Boolean).join('.') : path || err.validationContext || 'body'
      // a failed pattern is told in words where the schema gave some, not as the regex
      const problem = (first?.keyword === 'pattern' ? describePattern(params?.pattern) : undefined) ?? first?.message ?? 'is not valid'
      return send(reply, req, 'validation_failed', field, `${field} ${problem}`)
    }
    switch (err.code) {
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(reply, req, 'unsupported_media_type', 'content-type')
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(reply, req, 'payload_too_large', 'body')
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return send(reply, req, 'malformed_json', 'body')
    }
    if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON/i.test(err.message))) return send(reply, req, 'malformed_json', 'body')
    if (isTransientInfraError(err)) {
      req.log.warn({ err }, 'dependency unavailable; answered 503')
      return send(reply, req, 'temporarily_unavailable')
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ code: 'bad_request', message: err.message, request_id: req.id })
    }
    req.log.error({ err }, 'unhandled error')
    return send(reply, req, 'internal_error')
  })
  app.setNotFoundHandler((req, reply) => send(reply, req, 'not_found'))
})
