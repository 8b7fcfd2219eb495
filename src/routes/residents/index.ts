import type { FastifyInstance } from 'fastify'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import { contactRoutes } from './contacts.js'
import { feedbackRoutes } from './feedback.js'

/**
 * Residents, and councils' own web forms: anyone may report a problem and follow it. No
 * key: each route is limited per client address instead (src/plugins/rate-limits.ts).
 */
export async function residentsBoundary(app: FastifyInstance, opts: { intake: IntakeBatcher }) {
  await app.register(contactRoutes, opts)
  // the answer links of the satisfaction email
  await app.register(feedbackRoutes)
}
