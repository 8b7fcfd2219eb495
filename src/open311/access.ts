import type { FastifyReply, FastifyRequest } from 'fastify'
import { apiKeyOf } from '../plugins/api-key-auth.js'
import type { LimitHook } from '../plugins/rate-limits.js'
import { findApiKey, touchApiKey, type ApiKeyGrant, type ApiKeyScope } from '../councils/api-keys.js'
import type { Queryable } from '../db/pool.js'
import type { Catalogue, Council } from '../catalogue/catalogue.js'
import { Open311Error } from './format.js'

/** Who asks, about which council: resolved once per request, before its parameters are checked. */
export interface Open311Access {
  jurisdiction: Council
  /** the caller's key, when it gave one that holds this jurisdiction */
  key: ApiKeyGrant | null
}

declare module 'fastify' {
  interface FastifyRequest {
    open311?: Open311Access
  }
}

/** The access a route resolved in its preValidation hook. */
export function accessOf(req: FastifyRequest): Open311Access {
  if (!req.open311) throw new Error('Open311 route without its access hook')
  return req.open311
}

const param = (req: FastifyRequest, name: string): string | undefined => {
  for (const source of [req.query, req.body]) {
    const value = (source as Record<string, unknown> | undefined)?.[name]
    if (typeof value === 'string') return value
  }
  return undefined
}

/**
 * A preValidation hook (the form body is parsed by then, so its api_key is there) that
 * checks, in this order: the key, when the call needs one or one is given (403 if it is
 * not live or lacks the scope); jurisdiction_id present (400) and a council here (404);
 * the key holds that council (403: a council key only its own, a partnership key its
 * members'). A caller without a valid key learns nothing about its parameters.
 */
export function open311Access(db: Queryable, cat: Catalogue, opts: { key: 'required' | 'optional'; scopes: ApiKeyScope[]; limits?: LimitHook[] }) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const given = apiKeyOf(req)
    let key: ApiKeyGrant | null = null
    if (given !== null || opts.key === 'required') {
      key = given ? await findApiKey(db, given) : null
      if (!key || !key.scopes.some((s) => opts.scopes.includes(s))) throw new Open311Error(403, 'A valid api_key is required')
    }
    const gss = param(req, 'jurisdiction_id')?.trim()
    if (!gss) throw new Open311Error(400, 'jurisdiction_id is required: the council’s ONS GSS code')
    const jurisdiction = cat.councils.get(gss.toUpperCase())
    if (!jurisdiction) throw new Open311Error(404, 'No council here has this jurisdiction_id')
    if (key && !key.councils.includes(jurisdiction.gss)) throw new Open311Error(403, 'This api_key is not for this jurisdiction')
    if (key) {
      touchApiKey(db, key.id)
      // a key's requests are counted per key (RATE_LIMIT_API_KEY_PER_MIN); keyless reads are public
      req.apiKey = key
      for (const limit of opts.limits ?? []) await limit(req, reply)
    }
    req.open311 = { jurisdiction, key }
  }
}
