import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { findCaseStatus } from '../../cases/case-status.js'
import { WebContactBody, toInboundContact } from '../../channels/web/web-contact.js'
import { AppError } from '../../errors.js'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { normaliseContactPoint } from '../../lib/contact-points.js'
import { apiKeyOf } from '../../plugins/api-key-auth.js'
import { ErrorBody } from '../../plugins/error-handler.js'
import { SingleLine, StringEnum } from '../../lib/schema.js'
import { CaseReference } from '../../intake/reference.js'

const Accepted = Type.Object({
  reference: Type.String({ description: 'The case reference to quote' }),
  status_url: Type.String({ description: 'Where to follow the case; add ?contact=<your email or phone>' })
})

const Status = Type.Object({
  reference: Type.String(),
  stage: StringEnum(['received', 'in_triage', 'routed', 'with_back_office', 'resolved'] as const),
  stage_description: Type.String(),
  council: Type.Union([Type.Object({ gss: Type.String(), name: Type.String() }), Type.Null()]),
  service: Type.Union([Type.Object({ code: Type.String(), name: Type.String() }), Type.Null()]),
  received_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' })
})

/** The web channel: residents (or a council's web form) report a problem and follow it. */
export async function contactRoutes(fastify: FastifyInstance, opts: { intake: IntakeBatcher }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, catalogue, queues, config, intakePressure } = app
  const { intake } = opts
  // JSON only: Fastify's built-in text/plain parser would let a plain-text body through to
  // schema validation, where it would fail with a less helpful 400
  app.removeContentTypeParser('text/plain')
  const statusUrl = (reference: string) => `${config.PUBLIC_BASE_URL}/v1/contacts/${reference}`

  app.post(
    '/v1/contacts',
    {
      // per client address, counted before the body is even read
      onRequest: [
        ...app.requestLimits.intake,
        // a callback hook, not an async one: it runs on every contact and has nothing to await
        (_req, _reply, done) => {
          done(intake.saturated() ? new AppError('temporarily_unavailable', { message: 'Too many contacts are arriving at once; retry shortly' }) : undefined)
        }
      ],
      schema: {
        tags: ['web channel'],
        summary: 'Report a problem or ask a question',
        description:
          'Accepted (202) only once the contact is stored. Send an Idempotency-Key header to make retries safe: the same key and body return the same answer. A key is per sender: the API key the request carries, else the email and phone given.',
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' })) }),
        body: WebContactBody,
        response: { 202: Accepted, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody }
      }
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key']
      // per sender (src/intake/idempotency.ts): a stranger's use of the same key neither blocks nor answers this one
      const contact = toInboundContact(req.body, key ? { key, apiKey: apiKeyOf(req) || null } : null, catalogue)
      const done = intakePressure.begin()
      const result = await intake.submit(contact).finally(done)
      if (result.replayed && !result.samePayload) throw new AppError('idempotency_key_reused', { field: 'idempotency-key' })
      if (result.outbox) relayNow(queues, result.outbox, req.log)
      if (result.replayed) reply.header('idempotent-replayed', 'true')
      req.log.info({ caseReference: result.reference, replayed: result.replayed, opened: result.opened }, 'contact accepted')
      return reply.code(202).header('location', statusUrl(result.reference)).send({ reference: result.reference, status_url: statusUrl(result.reference) })
    }
  )

  app.get(
    '/v1/contacts/:reference',
    {
      // per client address and per case reference, once the reference is validated and
      // before the database is asked: guesses at one case's contact are limited from any address
      preHandler: app.requestLimits.lookup,
      schema: {
        tags: ['web channel'],
        summary: "Follow a case: its stage, the council handling it and the service",
        description: 'Shown only to someone who gives the email address or phone number the case was reported with; anyone else gets 404.',
        params: Type.Object({ reference: CaseReference() }),
        querystring: Type.Object({ contact: SingleLine({ minLength: 3, maxLength: 254, description: 'The email or phone number used to report it' }) }),
        response: { 200: Status, 400: ErrorBody, 404: ErrorBody, 429: ErrorBody, 503: ErrorBody }
      }
    },
    async (req) => {
      const contact = normaliseContactPoint(req.query.contact)
      const status = contact ? await findCaseStatus(db, req.params.reference.toUpperCase(), contact) : null
      if (!status) throw new AppError('not_found', { message: 'No case with this reference for this contact' })
      return status
    }
  )
}
