import type { FastifyRequest } from 'fastify'
import { findApiKey, touchApiKey, type ApiKeyGrant, type ApiKeyScope } from '../councils/api-keys.js'
import type { Queryable } from '../db/pool.js'
import { AppError } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** the council (or partnership) API key the request carries, once checked */
    apiKey?: ApiKeyGrant
  }
}

/** The key a request carries: `Authorization: Bearer sbk_…`, else Open311's `api_key` parameter. */
export function apiKeyOf(req: FastifyRequest): string | null {
  const header = req.headers.authorization ?? ''
  if (header.startsWith('Bearer ')) return header.slice(7).trim()
  const fromQuery = (req.query as Record<string, unknown> | undefined)?.api_key
  if (typeof fromQuery === 'string') return fromQuery
  const fromBody = (req.body as Record<string, unknown> | undefined)?.api_key
  return typeof fromBody === 'string' ? fromBody : null
}

/**
 * An onRequest hook, set once for a context of council routes: finds the live council or
 * partnership key the request carries, if any, and records it (req.apiKey). It refuses
 * nothing itself: each route says the scope it needs with requireScope, which runs after it.
 */
export function identifyApiKey(db: Queryable) {
  return async (req: FastifyRequest) => {
    const given = apiKeyOf(req)
    const grant = given ? await findApiKey(db, given) : null
    if (grant) req.apiKey = grant
  }
}

/**
 * A route's hook admitting the key identifyApiKey found, if it has this scope; anything else
 * is 401, a missing key, an unknown one and one without the scope alike. The key counts as
 * used only once admitted.
 */
export function requireScope(db: Queryable, scope: ApiKeyScope, refuse: () => Error = () => new AppError('unauthorized')) {
  return async (req: FastifyRequest) => {
    const grant = req.apiKey
    if (!grant || !grant.scopes.includes(scope)) throw refuse()
    touchApiKey(db, grant.id)
  }
}
