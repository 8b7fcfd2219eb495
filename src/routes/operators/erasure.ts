import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { eraseResident, releaseLegalHold, setLegalHold } from '../../data-protection/erasure.js'
import { contactOf } from '../../data-protection/footprint.js'
import { CaseReference } from '../../intake/reference.js'
import { IntegerBetween, MultiLine, Nullable, SingleLine, StringEnum, Timestamp } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'

const Held = Type.Object({ reference: Type.String(), reason: Type.String() })
const ErasureResult = Type.Object({
  erasure_id: Type.Integer(),
  outcome: StringEnum(['erased', 'partly_refused', 'refused', 'nothing_held'] as const, {
    description: 'refused: every case is under legal hold; partly_refused: some are (listed in held, with the reasons)'
  }),
  residents: Type.Integer({ description: 'resident records erased' }),
  cases_erased: Type.Integer(),
  held: Type.Array(Held, { description: 'cases left whole because of a legal hold, each with its reason' }),
  notices: Type.Integer({ description: 'council systems queued a signed case.erased (webhook destinations, webhook subscriptions) or a notice (team mailboxes)' })
})
const ErasureRecord = Type.Object({
  id: Type.Integer(),
  requested_by: Type.String(),
  reason: Type.String(),
  residents: Type.Integer(),
  cases_erased: Type.Integer(),
  held: Type.Array(Held),
  notices: Type.Integer(),
  created_at: Timestamp
})
const Notice = Type.Object({
  id: Type.String({ format: 'uuid' }),
  erasure_id: Nullable(Type.Integer()),
  case_reference: Type.String(),
  kind: Type.String(),
  state: Type.String(),
  attempts: Type.Integer(),
  last_status: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
  created_at: Timestamp,
  delivered_at: Nullable(Timestamp)
})

/** Erasure and legal holds. Registered inside operatorsBoundary, behind the operator key. */
export async function adminErasureRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, redis, config } = app
  const security = [{ operatorKey: [] }]
  const tags = ['data protection']
  const errors = { 400: ErrorBody, 401: ErrorBody, 503: ErrorBody }

  app.post(
    '/v1/admin/residents/erase',
    {
      schema: {
        tags,
        security,
        summary: "Erase a resident's personal data (the right to erasure)",
        description:
          'Everything about the person at these email addresses and phone numbers is erased or overwritten: their cases keep reference, council, service, channel and dates ' +
          '(so the counts stay) and their events keep what happened and who did it. Council systems that received a case get a signed case.erased. ' +
          'A case under legal hold is left whole; it is listed in `held` with the reason, and the refusal is recorded on the case. ' +
          'Answers 503 (nothing erased) when Redis cannot be checked for the same details; retry.',
        body: Type.Object(
          {
            contacts: Type.Array(SingleLine({ minLength: 3, maxLength: 254 }), {
              minItems: 1,
              maxItems: 20,
              description:
                'every email address and phone number the resident has shown to be theirs: someone who filled in a form and later texted may be two residents here, one per contact point'
            }),
            reason: MultiLine({ minLength: 1, maxLength: 1000, description: "the request and how the resident was identified; never the resident's own details" })
          },
          { additionalProperties: false }
        ),
        response: { 200: ErasureResult, ...errors }
      }
    },
    async (req) => eraseResident({ db, redis, prefix: config.QUEUE_PREFIX, log: req.log }, { contacts: req.body.contacts.map(contactOf), reason: req.body.reason, actor: 'operator' })
  )

  app.get(
    '/v1/admin/erasures',
    {
      schema: {
        tags,
        security,
        summary: 'Erasure requests and what came of each, newest first (refusals under legal hold included)',
        querystring: Type.Object({ limit: Type.Optional(IntegerBetween(1, 500, { default: 100 })) }),
        response: { 200: Type.Array(ErasureRecord), ...errors }
      }
    },
    async (req) => {
      const { rows } = await db.query(
        `select id::int, requested_by, reason, cardinality(residents) as residents, cases_erased, held, notices, created_at
           from erasure_requests order by id desc limit $1`,
        [req.query.limit ?? 100]
      )
      return rows
    }
  )

  app.get(
    '/v1/admin/erasure-notices',
    {
      schema: {
        tags,
        security,
        summary: 'Notices of erasure to council systems, by state (dead-lettered by default)',
        querystring: Type.Object({
          state: Type.Optional(StringEnum(['pending', 'delivered', 'dead'] as const, { default: 'dead' })),
          limit: Type.Optional(IntegerBetween(1, 500, { default: 100 }))
        }),
        response: { 200: Type.Array(Notice), ...errors }
      }
    },
    async (req) => {
      const { rows } = await db.query(
        `select n.public_id as id, n.erasure_id::int, c.reference as case_reference, n.kind, n.state, n.attempts, n.last_status, n.last_error, n.created_at, n.delivered_at
           from erasure_notices n join cases c on c.id = n.case_id
          where n.state = $1 order by n.id desc limit $2`,
        [req.query.state ?? 'dead', req.query.limit ?? 100]
      )
      return rows
    }
  )

  const Reference = Type.Object({ reference: CaseReference() })
  app.put(
    '/v1/admin/cases/:reference/legal-hold',
    {
      schema: {
        tags,
        security,
        summary: 'Put a case under legal hold: neither erasure nor retention touches it until the hold is released',
        params: Reference,
        body: Type.Object({ reason: MultiLine({ minLength: 1, maxLength: 1000 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ reference: Type.String(), reason: Type.String(), at: Timestamp }), 404: ErrorBody, ...errors }
      }
    },
    async (req) => setLegalHold(db, req.params.reference.toUpperCase(), req.body.reason, 'operator')
  )

  app.delete(
    '/v1/admin/cases/:reference/legal-hold',
    {
      schema: {
        tags,
        security,
        summary: "Release a case's legal hold",
        params: Reference,
        response: { 200: Type.Object({ reference: Type.String(), released: Type.Boolean({ description: 'false when the case was not held' }) }), 404: ErrorBody, ...errors }
      }
    },
    async (req) => releaseLegalHold(db, req.params.reference.toUpperCase(), 'operator')
  )
}
