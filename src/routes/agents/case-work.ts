import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { addInternalNote, releaseCase, replyToResident, setWorkStatus, transferCase, WORK_STATUSES } from '../../agents/work.js'
import { AppError } from '../../errors.js'
import { askForFeedback, feedbackSignerFor } from '../../feedback/csat.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { Id, MultiLine, StringEnum } from '../../lib/schema.js'
import { agentOf, errors, Params, refOf, security, tags, Text } from './shared.js'

/** Working a case the agent holds: release, transfer, work status, replies to the resident, internal notes. */
export async function caseWorkRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, queues, config } = app

  app.post(
    '/v1/agent/cases/:reference/release',
    { schema: { tags, security, summary: 'Put the case back in the queue (yours, or anyone\'s as a supervisor)', params: Params, response: { 204: Type.Null(), ...errors } } },
    async (req, reply) => {
      // release, transfer, work status, replies, notes, merges, assignment: each answers ids,
      // references and statuses only, nothing of the resident's, so none records a read
      await releaseCase(db, agentOf(req), refOf(req))
      return reply.code(204).send(null)
    }
  )

  app.post(
    '/v1/agent/cases/:reference/transfer',
    {
      schema: {
        tags,
        security,
        summary: 'Pass the case to another agent, or to a team (back to its queue), saying why',
        params: Params,
        body: Type.Union(
          [
            Type.Object({ agent_id: Id(), reason: MultiLine({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false }),
            Type.Object({ team_id: Id(), reason: MultiLine({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false })
          ],
          { examples: [{ team_id: 3, reason: 'Needs the housing team' }] }
        ),
        response: { 204: Type.Null(), ...errors }
      }
    },
    async (req, reply) => {
      const b = req.body
      const reason = b.reason.trim()
      if (!reason) throw new AppError('validation_failed', { field: 'reason', message: 'reason must say why' })
      await transferCase(db, agentOf(req), refOf(req), 'agent_id' in b ? { agentId: b.agent_id } : { teamId: b.team_id }, reason)
      return reply.code(204).send(null)
    }
  )

  app.patch(
    '/v1/agent/cases/:reference',
    {
      schema: {
        tags,
        security,
        summary: "Move the case's work status (resolving it asks the resident how we did, once)",
        description:
          'Allowed: new → open; open → waiting_on_resident, waiting_on_back_office or resolved; waiting_* → open or resolved; resolved → closed or open; closed → open (supervisors only). Anything else is 409 invalid_transition.',
        params: Params,
        body: Type.Object({ work_status: StringEnum(WORK_STATUSES) }, { additionalProperties: false }),
        response: { 200: Type.Object({ reference: Type.String(), from: Type.String(), work_status: Type.String() }), ...errors }
      }
    },
    async (req) => {
      const agent = agentOf(req)
      // resolving asks the resident how we did, once, on their channel
      const signer = req.body.work_status === 'resolved' ? await feedbackSignerFor(db, config.AGENT_TOKEN_SECRET) : null
      const moved = await setWorkStatus(db, agent, refOf(req), req.body.work_status, (tx, caseId) =>
        askForFeedback(tx, caseId, { agentId: agent.agentId, signer: signer!, publicBaseUrl: config.PUBLIC_BASE_URL, emailDomain: config.EMAIL_DOMAIN })
      )
      if (moved.outbox) relayNow(queues, moved.outbox, req.log)
      return { reference: refOf(req), from: moved.from, work_status: moved.to }
    }
  )

  app.post(
    '/v1/agent/cases/:reference/replies',
    {
      schema: {
        tags,
        security,
        summary: "Reply to the resident on the case's channel: email (threaded) to a case that came by email, else SMS",
        description: 'The case then waits on the resident; the first reply is its first response.',
        params: Params,
        body: Text,
        response: { 202: Type.Object({ message_id: Type.Integer(), status: Type.Literal('pending') }), ...errors }
      }
    },
    async (req, reply) => {
      const queued = await replyToResident(db, config.EMAIL_DOMAIN, agentOf(req), refOf(req), req.body.body.trim())
      relayNow(queues, queued.outbox, req.log)
      return reply.code(202).send({ message_id: queued.messageId, status: 'pending' as const })
    }
  )

  app.post(
    '/v1/agent/cases/:reference/notes',
    { schema: { tags, security, summary: 'Add an internal note (never sent to the resident nor to the council)', params: Params, body: Text, response: { 201: Type.Object({ added: Type.Literal(true) }), ...errors } } },
    async (req, reply) => {
      await addInternalNote(db, agentOf(req), refOf(req), req.body.body.trim())
      return reply.code(201).send({ added: true as const })
    }
  )
}
