import type { FastifyInstance } from 'fastify'
import type { EmailDeps } from '../../channels/email/email-deps.js'
import { requireOperatorKey } from '../../plugins/operator-auth.js'
import { adminAccessLogRoutes } from './access-log.js'
import { adminCaseRoutes } from './cases.js'
import { adminEmailRoutes } from './email.js'
import { adminErasureRoutes } from './erasure.js'
import { adminRetentionRoutes } from './retention.js'
import { adminSubjectAccessRoutes } from './subject-access.js'

/**
 * Operators (and supervisors of the service, through the operator API key): the reasons
 * behind routing, the triage queue, dead letters, quarantined mail, data protection. The
 * key is checked once, here, for every route of the context.
 */
export async function operatorsBoundary(app: FastifyInstance, opts: { mail: EmailDeps }) {
  // before validation, so a caller without the key learns nothing, not even what is malformed
  app.addHook('onRequest', requireOperatorKey(app.config.OPERATOR_API_KEY))
  // a released quarantined mail is taken in as the listener and the webhook take mail in
  await app.register(adminEmailRoutes, { mail: opts.mail })
  // data protection: retention, the read log, subject access, erasure (docs/data-protection.md)
  await app.register(adminRetentionRoutes)
  await app.register(adminAccessLogRoutes)
  await app.register(adminSubjectAccessRoutes)
  await app.register(adminErasureRoutes)
  await app.register(adminCaseRoutes)
}
