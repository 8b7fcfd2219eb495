import type { FastifyInstance } from 'fastify'
import type { Infra } from '../../infra.js'

/** GET /v1/admin/access-log: who read a case's personal data. Registered inside adminRoutes, behind the operator key. */
export async function adminAccessLogRoutes(_fastify: FastifyInstance, _opts: { infra: Infra }) {}
