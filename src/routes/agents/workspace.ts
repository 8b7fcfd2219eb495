import type { FastifyInstance } from 'fastify'
import { MergeConflict } from '../../agents/merge.js'
import { WorkConflict } from '../../agents/queue.js'
import type { AgentSessions } from '../../agents/sessions.js'
import { requireAgent } from '../../plugins/agent-auth.js'
import { cannedReplyRoutes } from './canned-replies.js'
import { caseViewRoutes } from './case-view.js'
import { caseWorkRoutes } from './case-work.js'
import { mergeRoutes } from './merges.js'
import { queueRoutes } from './queue.js'

/**
 * The agent's workspace over REST: the queue, the agent's own cases, a case whole, "next case", claim, release, transfer, work
 * statuses, replies to the resident, internal notes, and merging cases or residents. One
 * context, its agent-token hook set once here, so no route of it can be added without one;
 * a case (or team) of another partnership is 404, as if it did not exist.
 */
export async function agentRoutes(app: FastifyInstance, opts: { tokens: AgentSessions }) {
  app.addHook('onRequest', requireAgent(opts.tokens))
  // Refusals the agent can act on answer 409 with their own code; everything else goes on
  // to the app's error handler. (Once the codes are in src/errors.ts, WorkConflict can
  // become an AppError and this handler can go.)
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof WorkConflict || err instanceof MergeConflict) return reply.code(409).send({ code: err.code, message: err.message, request_id: req.id })
    throw err
  })
  await app.register(queueRoutes)
  await app.register(caseViewRoutes)
  await app.register(cannedReplyRoutes)
  await app.register(caseWorkRoutes)
  await app.register(mergeRoutes)
}
