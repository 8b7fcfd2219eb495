import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { IntakeBatcher } from '../../../intake/intake-batcher.js'
import { open311Access } from '../../../open311/access.js'
import { open311ErrorHandler } from '../../../open311/errors.js'
import { FORMATS, sendError } from '../../../open311/format.js'
import { requestCalls } from './requests.js'
import { serviceCalls } from './services.js'
import type { Open311Context } from './shared.js'
import { updateCalls } from './updates.js'

/**
 * Open311 GeoReport v2 under /open311/v2, every call in JSON and XML (the path's extension
 * picks), plus mySociety's service request updates. jurisdiction_id is a council's GSS code.
 * An access boundary of its own: its own body parser (forms only), key checks and errors.
 */
export async function open311Routes(fastify: FastifyInstance, opts: { intake: IntakeBatcher }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, catalogue } = app

  // POST bodies are forms, as the standard has them; JSON and the rest are refused (400)
  app.removeAllContentTypeParsers()
  await app.register(formbody)
  app.setErrorHandler(open311ErrorHandler)
  app.setNotFoundHandler((req, reply) => sendError(reply, req.url.split('?', 1)[0]!.endsWith('.xml') ? 'xml' : 'json', 404, 'No such Open311 call'))

  const limits = fastify.requestLimits.apiKey
  const anyone = open311Access(db, catalogue, { key: 'optional', scopes: ['read', 'open311'], limits })
  const poster = open311Access(db, catalogue, { key: 'required', scopes: ['open311'], limits })
  const reader = open311Access(db, catalogue, { key: 'required', scopes: ['read', 'open311'], limits })

  const ctx: Open311Context = { intake: opts.intake, anyone, poster, reader }
  // The read log: GET requests (with a key) and GET servicerequestupdates record a read of
  // each case they answer; discovery, services, tokens and the POSTs answer nothing of a
  // resident's (a reference, an update id) and record none.
  for (const fmt of FORMATS) {
    serviceCalls(app, ctx, fmt)
    requestCalls(app, ctx, fmt)
    updateCalls(app, ctx, fmt)
  }
}
