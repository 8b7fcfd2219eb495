import { createHash } from 'node:crypto'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.js'
import { normaliseEmail } from '../lib/contact-points.js'

/** A route hook that counts one request against one limit and answers 429 over it. */
export type LimitHook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>

/** The limits the contact routes attach; a list is empty when its setting is 0. */
export interface RequestLimits {
  /** POST /v1/contacts, as `onRequest`: per client address, before the body is read */
  intake: LimitHook[]
  /** GET /v1/contacts/:reference, as `preHandler`: per client address, then per case reference */
  lookup: LimitHook[]
  /** council routes, after the key is checked: per API key, not per address */
  apiKey: LimitHook[]
  /** POST /v1/auth/login, as `preHandler` (the body names the account): per account, whoever asks */
  loginAccount: LimitHook[]
}

declare module 'fastify' {
  interface FastifyInstance {
    requestLimits: RequestLimits
  }
}

const WINDOW_MS = 60_000
/** How long a count may wait for Redis before the request goes through uncounted. */
const STORE_DEADLINE_MS = 500
/** While Redis is down every request would warn; one line per this interval is enough. */
const WARN_EVERY_MS = 10_000

type Check = ReturnType<FastifyInstance['createRateLimit']>
type KeyOf = (req: FastifyRequest) => string

/** The client's address (IPv6 by its /64, as one host usually holds the whole block). */
const byAddress: KeyOf = (req) => normalizeIP(req.ip)
/** The API key's id (set by identifyApiKey, or by open311Access, which run first). */
const byApiKey: KeyOf = (req) => `key:${req.apiKey?.id ?? 'none'}`
/** The case reference as looked up; references are case-insensitive, so the count is too. */
const byReference: KeyOf = (req) => (req.params as { reference: string }).reference.toUpperCase()
/**
 * The account a login names, as login finds it (lower-cased), whether or not it exists, so a
 * limit reached says nothing about which addresses have accounts. Hashed: an agent's email
 * address is not left in Redis.
 */
const byAccount: KeyOf = (req) => {
  const given = String((req.body as { email?: unknown } | undefined)?.email ?? '')
  return createHash('sha256').update(normaliseEmail(given) ?? given.trim().toLowerCase()).digest('base64url')
}

/**
 * Rate limits counted in Redis, so every API process shares one count per client address
 * (and, for status lookups, per case reference, for agents' logins, per account: guesses at
 * one case's contact or one agent's password from many addresses are limited too). Over a
 * limit: 429 `rate_limited` with Retry-After (seconds), the same whichever limit it is.
 */
export const rateLimits = fp(
  async (app: FastifyInstance) => {
    const { config } = app
    const warnFailOpen = throttledWarning()
    const count = (name: string, max: number, keyOf: KeyOf) => counter(app, name, max, keyOf, warnFailOpen)
    const intakeMax = config.RATE_LIMIT_INTAKE_PER_MIN
    const lookupMax = config.RATE_LIMIT_LOOKUP_PER_MIN
    const keyMax = config.RATE_LIMIT_API_KEY_PER_MIN
    const loginMax = config.RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MIN
    app.decorate('requestLimits', {
      apiKey: keyMax > 0 ? [await count('api-key', keyMax, byApiKey)] : [],
      intake: intakeMax > 0 ? [await count('intake-address', intakeMax, byAddress)] : [],
      // the address first: a client already over its own limit does not use up the case's
      lookup: lookupMax > 0 ? [await count('lookup-address', lookupMax, byAddress), await count('lookup-reference', lookupMax, byReference)] : [],
      // every attempt counts, the right password too: guesses from many addresses at one account stop there
      loginAccount: loginMax > 0 ? [await count('login-account', loginMax, byAccount)] : []
    } satisfies RequestLimits)
  },
  // counted in the app's Redis, under its QUEUE_PREFIX (src/plugins/infra.ts)
  { name: 'rate-limits', dependencies: ['infra'] }
)

/**
 * One count: its own @fastify/rate-limit registration in its own scope, so it has its own
 * Redis namespace (under QUEUE_PREFIX, so deployments and test files sharing a Redis keep
 * apart) and its own maximum (createRateLimit(options) on one shared registration would
 * put every count under the same Redis keys). We check through createRateLimit() and answer ourselves
 * rather than attach fastify.rateLimit() hooks: those share one "already ran" flag per
 * request, so a second count on the same route would silently never run, and with
 * skipOnError they would swallow a Redis failure without a word.
 */
async function counter(app: FastifyInstance, name: string, max: number, keyOf: KeyOf, warnFailOpen: FailOpenWarning): Promise<LimitHook> {
  let check: Check | undefined
  await app.register(async (scope) => {
    await scope.register(rateLimit, {
      global: false,
      redis: app.redis,
      nameSpace: `${app.config.QUEUE_PREFIX}:rate-limit:${name}:`,
      max,
      timeWindow: WINDOW_MS,
      keyGenerator: keyOf,
      skipOnError: false
    })
    check = scope.createRateLimit()
  })
  const limit = check!
  return async (req, reply) => {
    let result: Awaited<ReturnType<Check>>
    try {
      result = await withDeadline(limit(req), STORE_DEADLINE_MS)
    } catch (err) {
      // Fail open. Postgres is the system of record and Redis holds nothing that cannot be
      // rebuilt: a resident's report must not be refused, or wait, because the counter
      // store is down or slow. Abuse goes unchecked meanwhile; the warning says so.
      warnFailOpen(req, name, err)
      return
    }
    if (result.isAllowed || !result.isExceeded) return
    reply.header('retry-after', String(Math.max(1, result.ttlInSeconds)))
    throw new AppError('rate_limited')
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

type FailOpenWarning = (req: FastifyRequest, limit: string, err: unknown) => void

/** Warns at most once per WARN_EVERY_MS. Only the limit's name and the error's message: no address, no key. */
function throttledWarning(): FailOpenWarning {
  let lastAt = 0
  let uncounted = 0
  return (req, limit, err) => {
    uncounted++
    const now = Date.now()
    if (now - lastAt < WARN_EVERY_MS) return
    req.log.warn({ limit, uncounted, reason: (err as Error)?.message }, 'rate limit not applied: Redis did not answer; letting requests through')
    lastAt = now
    uncounted = 0
  }
}
