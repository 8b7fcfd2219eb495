import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { formatOf, sendError } from '../open311/format.js'
import { send } from '../plugins/error-handler.js'

/**
 * For Fastify's `frameworkErrors`: the router's own refusals, before any route or error
 * handler (a percent-encoding in the path that is not UTF-8, such as %ED%A0%80, or a path
 * segment over 100 characters), answered from the catalogue instead of Fastify's own shape,
 * which echoed the path.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const problem = { FST_ERR_BAD_URL: 'holds a percent-encoding that is not UTF-8', FST_ERR_MAX_PARAM_LENGTH: 'has a part longer than 100 characters' }[err.code]
  const message = `path ${problem ?? 'is not valid'}`
  // no route, so no onSend hook: the request id header is set here
  reply.header('x-request-id', req.id)
  // an Open311 client reads errors in its standard's shape, as the Open311 routes answer them
  if (req.url.startsWith('/open311/')) return sendError(reply, formatOf(req), 400, message)
  return send(reply, req, 'validation_failed', 'path', message)
}
