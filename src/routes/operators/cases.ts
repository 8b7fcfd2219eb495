import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { findCaseWithEvents, listCasesWithoutDestination, listDeliveries, listTriage } from '../../cases/case-admin.js'
import { casesByReference, recordRequestReads } from '../../data-protection/access-log.js'
import { retryDelivery } from '../../delivery/retry-delivery.js'
import { AppError } from '../../errors.js'
import { ErrorBody } from '../../plugins/error-handler.js'
import { IntegerBetween, MultiLine, Nullable, StringEnum, Timestamp } from '../../lib/schema.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { queueEmailReply } from '../../messaging/email-outbound.js'
import { queueReply } from '../../messaging/outbound.js'
import { CaseReference } from '../../intake/reference.js'

const Event = Type.Object({
  type: Type.String(),
  actor: Type.String(),
  reason: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
  created_at: Timestamp
})
const CaseDetail = Type.Object({
  reference: Type.String(),
  status: Type.String(),
  priority: Type.String(),
  channel: Type.String(),
  partnership_id: Nullable(Type.String()),
  council_gss: Nullable(Type.String()),
  council_name: Nullable(Type.String()),
  service_code: Nullable(Type.String()),
  team: Nullable(Type.String()),
  postcode: Nullable(Type.String()),
  lat: Nullable(Type.Number()),
  lng: Nullable(Type.Number()),
  triage_candidates: Type.Array(Type.String()),
  sla_due_at: Nullable(Timestamp),
  created_at: Timestamp,
  routed_at: Nullable(Timestamp),
  events: Type.Array(Event)
})
const TriageItem = Type.Object({
  reference: Type.String(),
  partnership_id: Nullable(Type.String()),
  service_code: Nullable(Type.String()),
  postcode: Nullable(Type.String()),
  triage_candidates: Type.Array(Type.String()),
  created_at: Timestamp,
  reason: Nullable(Type.String())
})
const Undeliverable = Type.Object({
  reference: Type.String(),
  partnership_id: Nullable(Type.String()),
  council_gss: Type.String(),
  council_name: Nullable(Type.String()),
  service_code: Nullable(Type.String()),
  routed_at: Nullable(Timestamp),
  sla_due_at: Nullable(Timestamp)
})
const Delivery = Type.Object({
  id: Type.String({ format: 'uuid' }),
  case_reference: Type.String(),
  state: Type.String(),
  kind: Type.String(),
  attempts: Type.Integer(),
  last_status: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
  council_gss: Type.String(),
  team: Type.String(),
  target: Type.String(),
  created_at: Timestamp,
  updated_at: Timestamp
})
const Limit = Type.Optional(IntegerBetween(1, 500, { default: 100 }))

/**
 * Operations on cases: the reasons behind routing, replies to a resident, the triage queue,
 * cases no back office will receive, deliveries and their retries. Registered inside
 * operatorsBoundary, behind the operator key.
 */
export async function adminCaseRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, queues, config } = app
  const security = [{ operatorKey: [] }]
  const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 503: ErrorBody }

  app.get(
    '/v1/admin/cases/:reference',
    { schema: { tags: ['operations'], security, summary: 'A case with every routing and delivery decision and its reason', params: Type.Object({ reference: CaseReference() }), response: { 200: CaseDetail, ...errors } } },
    async (req) => {
      const found = await findCaseWithEvents(db, req.params.reference.toUpperCase())
      if (!found) throw new AppError('not_found', { message: 'No case with this reference' })
      // its place and its events (which may quote the resident): a read
      await recordRequestReads(db, req, await casesByReference(db, [found.reference]))
      return found
    }
  )

  app.post(
    '/v1/admin/cases/:reference/replies',
    {
      schema: {
        tags: ['operations'],
        security,
        summary: "Reply to the resident on the case's channel: by SMS to a case that came by SMS, by email to one that came by email",
        description:
          'Queued and sent by the message:send worker; nothing goes to a number that texted STOP (the message is recorded blocked). ' +
          'An email reply keeps the thread (In-Reply-To, References, the reference in the subject) and carries the case reply address.',
        params: Type.Object({ reference: CaseReference() }),
        body: Type.Object({ body: MultiLine({ minLength: 1, maxLength: 1600 }) }, { additionalProperties: false }),
        response: { 202: Type.Object({ message_id: Type.Integer(), status: Type.Literal('pending') }), 409: ErrorBody, 422: ErrorBody, ...errors }
      }
    },
    async (req, reply) => {
      // answers the new message's id only: no read recorded
      const reference = req.params.reference.toUpperCase()
      const queued =
        (await queueEmailReply(db, reference, req.body.body.trim(), 'operator', config.EMAIL_DOMAIN)) ??
        (await queueReply(db, reference, req.body.body.trim(), 'operator'))
      relayNow(queues, queued.outbox, req.log)
      return reply.code(202).send({ message_id: queued.messageId, status: 'pending' as const })
    }
  )

  app.get(
    '/v1/admin/triage',
    { schema: { tags: ['operations'], security, summary: 'Cases no rule could place, oldest first', querystring: Type.Object({ partnership: Type.Optional(Type.String({ maxLength: 64 })), limit: Limit }), response: { 200: Type.Array(TriageItem), ...errors } } },
    async (req) => {
      const cases = await listTriage(db, req.query.partnership ?? null, req.query.limit ?? 100)
      // each case's postcode, and the triage reason that may quote its place: a read of each listed
      await recordRequestReads(db, req, await casesByReference(db, cases.map((c: { reference: string }) => c.reference)))
      return cases
    }
  )

  app.get(
    '/v1/admin/cases-without-destination',
    {
      schema: {
        tags: ['operations'],
        security,
        summary: 'Routed cases no back office will receive: the council has no destination for the service, nor a default one',
        querystring: Type.Object({ limit: Limit }),
        response: { 200: Type.Array(Undeliverable), ...errors }
      }
    },
    // references, councils, services and dates: nothing of a resident's, no read recorded
    async (req) => listCasesWithoutDestination(db, req.query.limit ?? 100)
  )

  app.get(
    '/v1/admin/deliveries',
    {
      schema: {
        tags: ['operations'],
        security,
        summary: 'Deliveries to council systems by state (dead-lettered by default)',
        querystring: Type.Object({ state: Type.Optional(StringEnum(['dead', 'retrying', 'pending', 'delivered', 'kept'] as const, { default: 'dead' })), limit: Limit }),
        response: { 200: Type.Array(Delivery), ...errors }
      }
    },
    async (req) => {
      const deliveries = await listDeliveries(db, req.query.state ?? 'dead', req.query.limit ?? 100)
      // last_error is what a council system answered, which may echo the case it was sent
      // (docs/data-protection.md, deliveries): a read of each case listed
      await recordRequestReads(db, req, await casesByReference(db, deliveries.map((d: { case_reference: string }) => d.case_reference)))
      return deliveries
    }
  )

  app.post(
    '/v1/admin/deliveries/:id/retry',
    {
      schema: {
        tags: ['operations'],
        security,
        summary: 'Send a dead-lettered delivery again',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 202: Type.Object({ id: Type.String(), state: Type.Literal('pending') }), 409: ErrorBody, ...errors }
      }
    },
    // answers the delivery's id and state: no read recorded
    async (req, reply) => reply.code(202).send(await retryDelivery({ db, queues, log: req.log }, req.params.id, 'operator'))
  )
}
