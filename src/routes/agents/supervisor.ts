import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { supervisorOverview } from '../../agents/supervisor.js'
import { cannedReplyAdminRoutes } from './canned-replies.js'
import { reportRoutes } from './reports.js'
import type { AgentSessions } from '../../agents/sessions.js'
import { Nullable, StringEnum, Timestamp } from '../../lib/schema.js'
import { requireAgent } from '../../plugins/agent-auth.js'
import { ErrorBody } from '../../plugins/error-handler.js'

const AgentLoad = Type.Object({
  id: Type.Integer(),
  display_name: Nullable(Type.String()),
  role: Type.String(),
  presence: StringEnum(['online', 'away', 'offline'] as const, { description: 'offline once heartbeats stop, whatever was last set' }),
  presence_at: Nullable(Timestamp),
  open_cases: Type.Integer(),
  capacity: Type.Integer()
})
const TeamOverview = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  council_gss: Nullable(Type.String()),
  auto_assign: Type.Boolean(),
  queue_depth: Type.Integer({ description: 'unassigned cases waiting in the queue' }),
  oldest_waiting_seconds: Nullable(Type.Integer({ description: 'age of the oldest case in the queue' })),
  sla_breached: Type.Integer({ description: 'cases with an sla.breached event, not yet resolved or closed' }),
  agents: Type.Array(AgentLoad)
})

/**
 * The supervisor's view over REST, of their own partnership only: needs a supervisor (or admin) token.
 * Counts per team and the agents' own presence and load: nothing of any resident's, so no read is recorded.
 */
export async function supervisorRoutes(fastify: FastifyInstance, opts: { tokens: AgentSessions }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.addHook('onRequest', requireAgent(opts.tokens, 'supervisor'))

  app.get(
    '/v1/supervisor/overview',
    {
      schema: {
        tags: ['supervisor'],
        security: [{ agentToken: [] }],
        summary: "Each team of your partnership: queue depth, oldest waiting case, SLA breaches, and its agents' presence and load",
        response: { 200: Type.Object({ at: Timestamp, teams: Type.Array(TeamOverview) }), 401: ErrorBody, 403: ErrorBody }
      }
    },
    async (req) => ({ at: new Date(), teams: await supervisorOverview(app.db, req.agent!.partnershipId) })
  )
  // canned replies are the supervisors' to write (agents read them filled, per case)
  await app.register(cannedReplyAdminRoutes)
  await app.register(reportRoutes)
}
