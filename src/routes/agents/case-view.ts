import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { caseForAgent, directoryOf, listMine } from '../../agents/case-view.js'
import { recordRequestReads } from '../../data-protection/access-log.js'
import { AppError } from '../../errors.js'
import { Nullable, Timestamp } from '../../lib/schema.js'
import { agentOf, errors, Params, QueueCase, refOf, security, tags } from './shared.js'

const Colleague = Type.Object({
  id: Type.Integer(),
  display_name: Nullable(Type.String()),
  role: Type.String(),
  presence: Type.String({ description: 'online, away or offline (offline once heartbeats stop)' })
})

const CaseWhole = Type.Object({
  ...QueueCase.properties,
  status: Type.String({ description: 'routing status: received, routed, triage' }),
  council_name: Nullable(Type.String()),
  service_name: Nullable(Type.String()),
  assigned_agent_id: Nullable(Type.Integer()),
  merged_into_reference: Nullable(Type.String()),
  first_response_due_at: Nullable(Timestamp),
  first_response_at: Nullable(Timestamp),
  first_response_breached_at: Nullable(Timestamp),
  resolution_due_at: Nullable(Timestamp),
  resolution_breached_at: Nullable(Timestamp),
  // set while the case waits on the resident: the resolution clock is paused
  resolution_paused_at: Nullable(Timestamp),
  resident: Type.Object({ id: Type.Integer(), name: Nullable(Type.String()), email: Nullable(Type.String()), phone: Nullable(Type.String()) }),
  messages: Type.Array(
    Type.Object({
      id: Type.Integer(),
      direction: Type.String({ description: 'inbound (from the resident) or outbound' }),
      channel: Type.String(),
      kind: Nullable(Type.String()),
      subject: Nullable(Type.String()),
      body: Type.String(),
      author: Nullable(Type.String()),
      status: Nullable(Type.String()),
      created_at: Timestamp
    })
  ),
  events: Type.Array(Type.Object({ id: Type.Integer(), type: Type.String(), actor: Type.String(), reason: Nullable(Type.String()), created_at: Timestamp }))
})

/** What the desk reads besides the queue: the agent's own cases, one case whole, and whom a case can go to. */
export async function caseViewRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db } = app

  app.get(
    '/v1/agent/me',
    {
      schema: {
        tags,
        security,
        summary: 'You, your colleagues (with presence) and the teams of your partnership: whom a case can be passed to',
        response: {
          200: Type.Object({
            me: Type.Object({ ...Colleague.properties, email: Type.String(), capacity: Type.Integer() }),
            colleagues: Type.Array(Colleague),
            teams: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String(), council_gss: Nullable(Type.String()) }))
          }),
          ...errors
        }
      }
    },
    async (req) => {
      const agent = agentOf(req)
      const found = await directoryOf(db, agent.agentId, agent.partnershipId)
      if (!found) throw new AppError('not_found', { message: 'No such agent' })
      // agents' names and presence, nothing of any resident's: no read recorded
      return found
    }
  )

  app.get(
    '/v1/agent/mine',
    { schema: { tags, security, summary: 'The open cases you hold, most urgent first', response: { 200: Type.Object({ cases: Type.Array(QueueCase) }), ...errors } } },
    async (req) => {
      const agent = agentOf(req)
      const cases = await listMine(db, agent.agentId, agent.partnershipId)
      // each shows the resident's own words: a read of each
      await recordRequestReads(db, req, cases)
      return { cases }
    }
  )

  app.get(
    '/v1/agent/cases/:reference',
    {
      schema: {
        tags,
        security,
        summary: 'A case of your partnership whole: its resident, messages, events and SLA clocks',
        params: Params,
        response: { 200: CaseWhole, ...errors }
      }
    },
    async (req) => {
      const found = await caseForAgent(db, agentOf(req).partnershipId, refOf(req))
      if (!found) throw new AppError('not_found', { message: 'No case with this reference' })
      await recordRequestReads(db, req, [found])
      return found
    }
  )
}
