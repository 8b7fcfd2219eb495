import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { cannedForCase, createCanned, deleteCanned, listCanned, updateCanned, VARIABLES } from '../../agents/canned-replies.js'
import { recordRequestReads, casesByReference } from '../../data-protection/access-log.js'
import { AppError } from '../../errors.js'
import { Id, MultiLine, Nullable, SingleLine, Timestamp } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'
import { agentOf, errors, Params, refOf, security, tags } from './shared.js'

const variables = VARIABLES.map((v) => `{{${v}}}`).join(', ')

const Canned = Type.Object({ id: Type.Integer(), team_id: Nullable(Type.Integer()), title: Type.String(), body: Type.String(), updated_at: Timestamp })
const CannedBody = Type.Object(
  {
    title: SingleLine({ minLength: 1, maxLength: 80 }),
    body: MultiLine({ minLength: 1, maxLength: 1600, description: `the text, with any of ${variables}` }),
    team_id: Type.Optional(Nullable(Id({ description: "one team's cases only; none or null: the whole partnership's" })))
  },
  { additionalProperties: false, examples: [{ title: 'Bin crew booked', body: 'Hello {{resident.first_name}}, the crew will come back today. Your reference is {{case.reference}}. {{council.name}}' }] }
)
const IdParams = Type.Object({ id: Id() })

/** For any agent: the canned replies for a case, filled for it. */
export async function cannedReplyRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get(
    '/v1/agent/cases/:reference/canned-replies',
    {
      schema: {
        tags,
        security,
        summary: "The canned replies for this case (your partnership's, and its team's), with their variables filled for it",
        description: `Variables: ${variables}. One this case has no value for is left empty and named in \`missing\`, for the agent to complete by hand.`,
        params: Params,
        response: {
          200: Type.Object({ replies: Type.Array(Type.Object({ id: Type.Integer(), title: Type.String(), text: Type.String(), missing: Type.Array(Type.String()) })) }),
          ...errors
        }
      }
    },
    async (req) => {
      const agent = agentOf(req)
      const replies = await cannedForCase(app.db, agent.partnershipId, refOf(req), agent.agentId)
      if (!replies) throw new AppError('not_found', { message: 'No case with this reference' })
      // filled with the resident's name: a read of the case
      if (replies.length) await recordRequestReads(app.db, req, await casesByReference(app.db, [refOf(req)]))
      return { replies }
    }
  )
}

/** For supervisors (registered in their context): managing the partnership's canned replies. */
export async function cannedReplyAdminRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const sup = { tags: ['supervisor'], security: [{ agentToken: [] }] }
  const errs = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody }
  const input = (b: { title: string; body: string; team_id?: number | null }) => ({ title: b.title, body: b.body, team_id: b.team_id ?? null })

  app.get(
    '/v1/supervisor/canned-replies',
    { schema: { ...sup, summary: "Your partnership's canned replies, as written (variables unfilled)", response: { 200: Type.Object({ replies: Type.Array(Canned) }), ...errs } } },
    async (req) => ({ replies: await listCanned(app.db, req.agent!.partnershipId) })
  )
  app.post(
    '/v1/supervisor/canned-replies',
    { schema: { ...sup, summary: 'Add a canned reply', description: `Variables: ${variables}; any other is 400.`, body: CannedBody, response: { 201: Canned, ...errs } } },
    async (req, reply) => reply.code(201).send(await createCanned(app.db, req.agent!.partnershipId, input(req.body), `agent:${req.agent!.agentId}`))
  )
  app.put(
    '/v1/supervisor/canned-replies/:id',
    { schema: { ...sup, summary: 'Change a canned reply', params: IdParams, body: CannedBody, response: { 200: Canned, ...errs } } },
    async (req) => updateCanned(app.db, req.agent!.partnershipId, req.params.id, input(req.body))
  )
  app.delete(
    '/v1/supervisor/canned-replies/:id',
    { schema: { ...sup, summary: 'Remove a canned reply', params: IdParams, response: { 204: Type.Null(), ...errs } } },
    async (req, reply) => {
      if (!(await deleteCanned(app.db, req.agent!.partnershipId, req.params.id))) throw new AppError('not_found', { message: 'No canned reply with this id' })
      return reply.code(204).send(null)
    }
  )
}
