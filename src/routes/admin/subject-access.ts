import type { FastifyInstance } from 'fastify'
import type { Infra } from '../../infra.js'

/** Subject access: everything held about a resident, as one JSON document. Registered inside adminRoutes, behind the operator key. */
export async function adminSubjectAccessRoutes(_fastify: FastifyInstance, _opts: { infra: Infra }) {}
