import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { assignRoundRobin } from '../../agents/assignment.js'
import { listQueue, takeNext } from '../../agents/queue.js'
import { claimCase } from '../../agents/work.js'
import { recordRequestReads } from '../../data-protection/access-log.js'
import { Id, IntegerBetween } from '../../lib/schema.js'
import { requireRole } from '../../plugins/agent-auth.js'
import { agentOf, errors, Params, QueueCase, refOf, security, tags, TeamQuery, teamOf } from './shared.js'

/** The queue: listing it, taking the next case, claiming one, and (supervisors) handing a team's queue out. */
export async function queueRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db } = app

  app.get(
    '/v1/agent/queue',
    {
      schema: {
        tags,
        security,
        summary: "Unassigned open cases of your partnership (or of one team), most urgent first, then by SLA due time",
        querystring: Type.Object({ ...TeamQuery.properties, limit: IntegerBetween(1, 200, { default: 50 }), offset: IntegerBetween(0, 100_000, { default: 0 }) }),
        response: { 200: Type.Object({ cases: Type.Array(QueueCase) }), ...errors }
      }
    },
    async (req) => {
      const agent = agentOf(req)
      const team = await teamOf(db, agent, req.query.team)
      const cases = await listQueue(db, { partnershipId: agent.partnershipId, team }, { limit: req.query.limit, offset: req.query.offset })
      // each case listed shows the resident's own words (description): a read of each
      await recordRequestReads(db, req, cases)
      return { cases }
    }
  )

  app.post(
    '/v1/agent/next',
    {
      schema: {
        tags,
        security,
        summary: 'Take the case at the top of the queue',
        description: 'Two agents asking at once never get the same case. 204 when the queue is empty; 409 at_capacity when you hold as many open cases as your capacity.',
        querystring: TeamQuery,
        response: { 200: QueueCase, 204: Type.Null(), ...errors }
      }
    },
    async (req, reply) => {
      const agent = agentOf(req)
      const taken = await takeNext(db, agent, await teamOf(db, agent, req.query.team))
      if (!taken) return reply.code(204).send(null)
      await recordRequestReads(db, req, [taken])
      return taken
    }
  )

  app.post(
    '/v1/agent/cases/:reference/claim',
    { schema: { tags, security, summary: 'Take this case, if no one holds it', params: Params, response: { 200: QueueCase, ...errors } } },
    async (req) => {
      const claimed = await claimCase(db, agentOf(req), refOf(req))
      await recordRequestReads(db, req, [claimed])
      return claimed
    }
  )

  app.post(
    '/v1/agent/teams/:id/assign',
    {
      onRequest: requireRole('supervisor'),
      schema: {
        tags,
        security,
        summary: "Hand out the team's queue round-robin to its online agents with spare capacity, once",
        params: Type.Object({ id: Id() }),
        response: { 200: Type.Object({ assigned: Type.Array(Type.Object({ reference: Type.String(), agent_id: Type.Integer() })) }), ...errors }
      }
    },
    async (req) => {
      const agent = agentOf(req)
      const team = await teamOf(db, agent, req.params.id)
      const done = await assignRoundRobin(db, agent.partnershipId, team!.id, `agent:${agent.agentId}`)
      return { assigned: done.map((a) => ({ reference: a.reference, agent_id: a.agentId })) }
    }
  )
}
