import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { mergeCases, mergeResidentsAsAgent, undoMerge, undoResidentMerge } from '../../agents/merge.js'
import { CaseReference } from '../../intake/reference.js'
import { Id, Timestamp } from '../../lib/schema.js'
import { agentOf, errors, Params, Reason, refOf, ResidentRef, security, tags } from './shared.js'

/** Merging cases (undoable for a while) and residents (not undoable). */
export async function mergeRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, config } = app

  app.post(
    '/v1/agent/cases/:reference/merge',
    {
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
