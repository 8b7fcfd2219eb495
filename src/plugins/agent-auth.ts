import type { FastifyRequest } from 'fastify'
import type { AgentClaims, AgentRole, AgentTokens } from '../agents/tokens.js'
import { AppError } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** the agent a request's bearer token speaks for, once checked */
    agent?: AgentClaims
  }
}

const RANK: Record<AgentRole, number> = { agent: 0, supervisor: 1, admin: 2 }

/** The bearer token of a request: `Authorization: Bearer …`, or `?token=` (browsers cannot set headers on a WebSocket). */
export function bearerOf(req: FastifyRequest): string | null {
  const header = req.headers.authorization ?? ''
  if (header.startsWith('Bearer ')) return header.slice(7).trim()
  const q = (req.query as Record<string, unknown> | undefined)?.token
  return typeof q === 'string' ? q : null
}

/** An onRequest hook admitting agents with a valid token and at least this role; sets req.agent. */
export function requireAgent(tokens: AgentTokens, least: AgentRole = 'agent') {
  return async (req: FastifyRequest) => {
    const token = bearerOf(req)
    const claims = token ? tokens.verify(token) : null
    if (!claims) throw new AppError('unauthorized', { message: 'A valid agent token is required (POST /v1/auth/login)' })
    if (RANK[claims.role] < RANK[least]) throw new AppError('forbidden', { message: `This needs the ${least} role` })
    req.agent = claims
  }
}
