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
 * A hook that admits requests bearing a live council or partnership key with this scope,
 * and records the key on the request (req.apiKey) for the routes to scope their queries by.
 * Run as preHandler where the key may come in a form body (Open311's POST).
 */
export function requireApiKey(db: Queryable, scope: ApiKeyScope, refuse: () => Error = () => new AppError('unauthorized')) {
  return async (req: FastifyRequest) => {
    const given = apiKeyOf(req)
    const grant = given ? await findApiKey(db, given) : null
    if (!grant || !grant.scopes.includes(scope)) throw refuse()
    req.apiKey = grant
    touchApiKey(db, grant.id)
  }
}
