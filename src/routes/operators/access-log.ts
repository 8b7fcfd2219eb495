import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { listReads } from '../../data-protection/access-log.js'
import { AppError } from '../../errors.js'
import { CaseReference } from '../../intake/reference.js'
import { IntegerBetween, Nullable, SingleLine, StringEnum } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'

const Read = Type.Object({
  at: Type.String({ format: 'date-time', description: 'when, in UTC to the microsecond; give the last one back as `since` for the next page' }),
  actor_kind: StringEnum(['agent', 'council_key', 'operator'] as const),
  actor: Type.String({ description: "who: 'agent:12', 'api_key:5', 'operator' (the operator API) or 'operator:cli'", examples: ['agent:12'] }),
  route: Type.String({ description: 'the route as its pattern, never the URL asked', examples: ['GET /v1/cases/:reference'] }),
  request_id: Nullable(Type.String({ description: 'the request id the API answered with, to match its logs' }))
})

/**
 * GET /v1/admin/access-log: who read a case's personal data, for a council's data protection
 * officer. Registered inside operatorsBoundary, behind the operator key. Reading this log is not a
 * read of the case (it shows who looked, never what they saw), so it records nothing.
 */
export async function adminAccessLogRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db } = app

  app.get(
    '/v1/admin/access-log',
    {
      schema: {
        tags: ['data protection'],
        security: [{ operatorKey: [] }],
        summary: "Every recorded read of a case's personal data: who, when, through which route, oldest first",
        description:
          'Reads by agents, council API keys and operators are recorded before the answer is sent. Page with `limit` and `since` ' +
          '(the `at` of the last read of the previous page, given back as `next_since`); a page may run past `limit` to keep reads ' +
          'made at the same microsecond together. 404 when no case has this reference.',
        querystring: Type.Object(
          {
            reference: CaseReference(),
            actor: Type.Optional(
              SingleLine({ minLength: 1, maxLength: 64, description: "one actor ('agent:12', 'api_key:5', 'operator:cli') or every actor of a kind ('agent', 'council_key', 'operator')" })
            ),
            since: Type.Optional(Type.String({ format: 'date-time', description: 'only reads after this instant' })),
            limit: IntegerBetween(1, 1000, { default: 100 })
          },
          { additionalProperties: false }
        ),
        response: {
          200: Type.Object({ reference: Type.String(), reads: Type.Array(Read), next_since: Nullable(Type.String({ format: 'date-time' })) }),
          400: ErrorBody,
          401: ErrorBody,
          404: ErrorBody,
          503: ErrorBody
        }
      }
    },
    async (req) => {
      const reference = req.query.reference.toUpperCase()
      const reads = await listReads(db, reference, { actor: req.query.actor, since: req.query.since, limit: req.query.limit })
      if (!reads) throw new AppError('not_found', { message: 'No case with this reference' })
      const last = reads[reads.length - 1]
      return { reference, reads, next_since: last && reads.length >= req.query.limit ? last.at : null }
    }
  )
}
