import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { assignRoundRobin } from '../../agents/assignment.js'
import { MergeConflict, mergeCases, mergeResidentsAsAgent, undoMerge, undoResidentMerge } from '../../agents/merge.js'
import { findTeam, listQueue, takeNext, WorkConflict, type Team } from '../../agents/queue.js'
import type { AgentSessions } from '../../agents/sessions.js'
import type { AgentClaims } from '../../agents/tokens.js'
import { addInternalNote, claimCase, releaseCase, replyToResident, setWorkStatus, transferCase, WORK_STATUSES } from '../../agents/work.js'
import { recordRequestReads } from '../../data-protection/access-log.js'
import { AppError } from '../../errors.js'
import type { Infra } from '../../infra.js'
import { CaseReference } from '../../intake/reference.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { Id, IntegerBetween, MultiLine, Nullable, StringEnum, Timestamp } from '../../lib/schema.js'
import { requireAgent } from '../../plugins/agent-auth.js'
import { ErrorBody } from '../../plugins/error-handler.js'

const QueueCase = Type.Object({
  reference: Type.String(),
  priority: Type.String(),
  work_status: Type.String(),
  channel: Type.String(),
  council_gss: Nullable(Type.String()),
  service_code: Nullable(Type.String()),
  team_id: Nullable(Type.Integer()),
  description: Type.String(),
  uprn: Nullable(Type.String({ description: 'the property it is about (Unique Property Reference Number)' })),
  usrn: Nullable(Type.String({ description: 'the street it is about (Unique Street Reference Number)' })),
  report_url: Nullable(Type.String({ description: "the reporting client's page for the report, e.g. its FixMyStreet report" })),
  sla_due_at: Nullable(Timestamp),
  created_at: Timestamp
})
const Params = Type.Object({ reference: CaseReference() })
const TeamQuery = Type.Object({ team: Type.Optional(Id({ description: "a team of your partnership: its council's cases only" })) })
const Text = Type.Object({ body: MultiLine({ minLength: 1, maxLength: 1600 }) }, { additionalProperties: false })
const ResidentRef = Type.Union([Id({ description: 'a resident id' }), CaseReference({ description: 'the reference of one of their cases' })])
const Reason = MultiLine({ minLength: 1, maxLength: 500 })
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody }
const security = [{ agentToken: [] }]
const tags = ['agent workspace']

/**
 * The agent's workspace over REST: the queue, "next case", claim, release, transfer, work
 * statuses, replies to the resident, internal notes, and merging cases or residents. Every route needs an agent token;
 * a case (or team) of another partnership is 404, as if it did not exist.
 */
export async function agentRoutes(fastify: FastifyInstance, opts: { infra: Infra; tokens: AgentSessions }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, queues, config } = opts.infra
  const asAgent = requireAgent(opts.tokens)
  const asSupervisor = requireAgent(opts.tokens, 'supervisor')
  const agentOf = (req: FastifyRequest) => req.agent!
  const refOf = (req: { params: { reference: string } }) => req.params.reference.toUpperCase()

  // Refusals the agent can act on answer 409 with their own code; everything else goes on
  // to the app's error handler. (Once the codes are in src/errors.ts, WorkConflict can
  // become an AppError and this handler can go.)
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof WorkConflict || err instanceof MergeConflict) return reply.code(409).send({ code: err.code, message: err.message, request_id: req.id })
    throw err
  })

  const teamOf = async (agent: AgentClaims, id: number | undefined): Promise<Team | null> => {
    if (id === undefined) return null
    const team = await findTeam(db, agent.partnershipId, id)
    if (!team) throw new AppError('not_found', { message: 'No team with this id' })
    return team
  }

  app.get(
    '/v1/agent/queue',
    {
      onRequest: asAgent,
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
      const team = await teamOf(agent, req.query.team)
      const cases = await listQueue(db, { partnershipId: agent.partnershipId, team }, { limit: req.query.limit, offset: req.query.offset })
      // each case listed shows the resident's own words (description): a read of each
      await recordRequestReads(db, req, cases)
      return { cases }
    }
  )

  app.post(
    '/v1/agent/next',
    {
      onRequest: asAgent,
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
      const taken = await takeNext(db, agent, await teamOf(agent, req.query.team))
      if (!taken) return reply.code(204).send(null)
      await recordRequestReads(db, req, [taken])
      return taken
    }
  )

  app.post(
    '/v1/agent/cases/:reference/claim',
    { onRequest: asAgent, schema: { tags, security, summary: 'Take this case, if no one holds it', params: Params, response: { 200: QueueCase, ...errors } } },
    async (req) => {
      const claimed = await claimCase(db, agentOf(req), refOf(req))
      await recordRequestReads(db, req, [claimed])
      return claimed
    }
  )

  app.post(
    '/v1/agent/cases/:reference/release',
    { onRequest: asAgent, schema: { tags, security, summary: 'Put the case back in the queue (yours, or anyone\'s as a supervisor)', params: Params, response: { 204: Type.Null(), ...errors } } },
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
      onRequest: asAgent,
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
      onRequest: asAgent,
      schema: {
        tags,
        security,
        summary: "Move the case's work status",
        description:
          'Allowed: new → open; open → waiting_on_resident, waiting_on_back_office or resolved; waiting_* → open or resolved; resolved → closed or open; closed → open (supervisors only). Anything else is 409 invalid_transition.',
        params: Params,
        body: Type.Object({ work_status: StringEnum(WORK_STATUSES) }, { additionalProperties: false }),
        response: { 200: Type.Object({ reference: Type.String(), from: Type.String(), work_status: Type.String() }), ...errors }
      }
    },
    async (req) => {
      const moved = await setWorkStatus(db, agentOf(req), refOf(req), req.body.work_status)
      return { reference: refOf(req), from: moved.from, work_status: moved.to }
    }
  )

  app.post(
    '/v1/agent/cases/:reference/replies',
    {
      onRequest: asAgent,
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
    { onRequest: asAgent, schema: { tags, security, summary: 'Add an internal note (never sent to the resident nor to the council)', params: Params, body: Text, response: { 201: Type.Object({ added: Type.Literal(true) }), ...errors } } },
    async (req, reply) => {
      await addInternalNote(db, agentOf(req), refOf(req), req.body.body.trim())
      return reply.code(201).send({ added: true as const })
    }
  )

  app.post(
    '/v1/agent/teams/:id/assign',
    {
      onRequest: asSupervisor,
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
      const team = await teamOf(agent, req.params.id)
      const done = await assignRoundRobin(db, agent.partnershipId, team!.id, `agent:${agent.agentId}`)
      return { assigned: done.map((a) => ({ reference: a.reference, agent_id: a.agentId })) }
    }
  )

  app.post(
    '/v1/agent/cases/:reference/merge',
    {
      onRequest: asAgent,
      schema: {
        tags,
        security,
        summary: 'Merge this case into another of your partnership, saying why',
        description:
          "Its messages and deliveries move to the other case, which gets a case.merged event; this case points to it and is closed. Undo within MERGE_UNDO_MINUTES with POST /v1/agent/merges/:id/undo. 409 already_merged when either case was merged already.",
        params: Params,
        body: Type.Object({ into: CaseReference(), reason: Reason }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            merge_id: Type.Integer(),
            from: Type.String(),
            into: Type.String(),
            message_ids: Type.Array(Type.Integer()),
            delivery_ids: Type.Array(Type.Integer()),
            deliveries_kept: Type.Integer({ description: 'deliveries left on the merged case: the survivor had one to the same destination' }),
            undo_until: Timestamp
          }),
          ...errors
        }
      }
    },
    async (req) => {
      const m = await mergeCases(db, agentOf(req), refOf(req), req.body.into.toUpperCase(), req.body.reason, config.MERGE_UNDO_MINUTES)
      return { merge_id: m.id, from: m.from, into: m.into, message_ids: m.messageIds, delivery_ids: m.deliveryIds, deliveries_kept: m.deliveriesKept, undo_until: m.undoUntil }
    }
  )

  app.post(
    '/v1/agent/merges/:id/undo',
    {
      onRequest: asAgent,
      schema: {
        tags,
        security,
        summary: 'Undo a case merge: exactly what it moved goes back, and the merged case is separate again',
        description: 'By the agent who merged, or a supervisor. 409 undo_window_passed after the window, already_undone, or merged_again when the surviving case was merged on since.',
        params: Type.Object({ id: Id() }),
        response: { 200: Type.Object({ merge_id: Type.Integer(), from: Type.String(), into: Type.String(), message_ids: Type.Array(Type.Integer()), delivery_ids: Type.Array(Type.Integer()) }), ...errors }
      }
    },
    async (req) => {
      const done = await undoMerge(db, agentOf(req), req.params.id)
      return { merge_id: req.params.id, from: done.from, into: done.into, message_ids: done.messageIds, delivery_ids: done.deliveryIds }
    }
  )

  app.post(
    '/v1/agent/residents/merge',
    {
      onRequest: asAgent,
      schema: {
        tags,
        security,
        summary: 'Join two residents of your partnership (say, the same person texting and emailing), saying why',
        description:
          "Each is named by resident id or by one of their cases' reference. The merged resident's cases and contact points move to the one kept; audited, with a resident.merged event on every moved case. It cannot be undone (409 undo_unavailable), so check first.",
        body: Type.Object({ keep: ResidentRef, merge: ResidentRef, reason: Reason }, { additionalProperties: false }),
        response: {
          200: Type.Object({ merge_id: Type.Integer(), keep: Type.Integer(), merged: Type.Integer(), cases_moved: Type.Integer(), points_moved: Type.Integer(), undoable: Type.Boolean() }),
          ...errors
        }
      }
    },
    async (req) => {
      const done = await mergeResidentsAsAgent(db, agentOf(req), req.body.keep, req.body.merge, req.body.reason)
      return { merge_id: done.mergeId, keep: done.keep, merged: done.merged, cases_moved: done.casesMoved, points_moved: done.pointsMoved, undoable: false }
    }
  )

  app.post(
    '/v1/agent/residents/merges/:id/undo',
    {
      onRequest: asAgent,
      schema: {
        tags,
        security,
        summary: 'Refused: a resident merge cannot be undone safely (409 undo_unavailable)',
        params: Type.Object({ id: Id() }),
        response: { ...errors }
      }
    },
    async (req) => undoResidentMerge(db, agentOf(req), req.params.id)
  )
}
