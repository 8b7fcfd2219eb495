import type { FastifyInstance } from 'fastify'
import type { Infra } from '../../infra.js'

/** Erasure and legal holds. Registered inside adminRoutes, behind the operator key. */
export async function adminErasureRoutes(_fastify: FastifyInstance, _opts: { infra: Infra }) {}
