import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, isTransientInfraError } from '../errors.js'
import { formatOf, Open311Error, sendError } from './format.js'

/**
 * Every error on the Open311 routes in the standard's shape and format, never Fastify's or
 * our own JSON one: 403 for keys, 404 for what is not there, 400 for anything the caller
 * sent wrong, 503/500 (no internals) for our side.
 */
export function open311ErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const format = formatOf(req)
  if (err instanceof Open311Error) return sendError(reply, format, err.statusCode, err.message)
  if (err instanceof AppError) {
    const status = err.statusCode === 401 || err.statusCode === 403 ? 403 : err.statusCode === 404 ? 404 : err.statusCode === 429 || err.statusCode >= 500 ? err.statusCode : 400
    return sendError(reply, format, status, err.message)
  }
  if (err.validation) {
    const first = err.validation[0]
    const params = first?.params as { missingProperty?: string } | undefined
    const path = first?.instancePath?.replace(/^\//, '').replaceAll('/', '.')
    const field = params?.missingProperty ?? (path || err.validationContext || 'request')
    const problem = params?.missingProperty ? 'is required' : (first?.message ?? 'is not valid')
    return sendError(reply, format, 400, `${field} ${problem}`)
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendError(reply, format, 400, 'Send the body as application/x-www-form-urlencoded')
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, format, 400, 'The body is larger than this service accepts')
  if (isTransientInfraError(err)) {
    req.log.warn({ err }, 'dependency unavailable; answered 503')
    return sendError(reply, format, 503, 'The service is temporarily unavailable; retry shortly')
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return sendError(reply, format, err.statusCode === 429 ? 429 : 400, err.statusCode === 429 ? 'Too many requests; wait before trying again' : 'The request is not valid')
  }
  req.log.error({ err }, 'unhandled error in an Open311 call')
  return sendError(reply, format, 500, 'Something went wrong on our side')
}
