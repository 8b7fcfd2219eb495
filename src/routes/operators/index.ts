import type { FastifyInstance } from 'fastify'
import type { Infra } from '../../infra.js'
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
export async function operatorsBoundary(app: FastifyInstance, opts: { infra: Infra }) {
  // before validation, so a caller without the key learns nothing, not even what is malformed
  app.addHook('onRequest', requireOperatorKey(opts.infra.config.OPERATOR_API_KEY))
  await app.register(adminEmailRoutes, { infra: opts.infra })
  // data protection: retention, the read log, subject access, erasure (docs/data-protection.md)
  await app.register(adminRetentionRoutes, { infra: opts.infra })
  await app.register(adminAccessLogRoutes, { infra: opts.infra })
  await app.register(adminSubjectAccessRoutes, { infra: opts.infra })
  await app.register(adminErasureRoutes, { infra: opts.infra })
  await app.register(adminCaseRoutes, { infra: opts.infra })
}
