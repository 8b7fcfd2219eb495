import type { FastifyInstance } from 'fastify'
import type { Infra } from '../../infra.js'

/** Retention schedules and runs (operator API). Registered inside adminRoutes, behind the operator key. */
export async function adminRetentionRoutes(_fastify: FastifyInstance, _opts: { infra: Infra }) {}
