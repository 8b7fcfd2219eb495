import type { FastifyRequest } from 'fastify'
import type { AgentSessions } from '../agents/sessions.js'
import type { AgentRole, VerifiedAgent } from '../agents/tokens.js'
import { AppError } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** the agent a request's bearer token speaks for, once checked */
    agent?: VerifiedAgent
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

/**
 * An onRequest hook admitting agents with a valid token, still active (as known within
 * AGENT_REVOCATION_S), with at least this role; sets req.agent. A disabled, removed or changed
 * account is refused as a bad token is: 401, log in again.
 */
export function requireAgent(sessions: AgentSessions, least: AgentRole = 'agent') {
  return async (req: FastifyRequest) => {
    const token = bearerOf(req)
    const claims = token ? await sessions.authenticate(token) : null
    if (!claims) throw new AppError('unauthorized', { message: 'A valid agent token is required (POST /v1/auth/login)' })
    if (RANK[claims.role] < RANK[least]) throw new AppError('forbidden', { message: `This needs the ${least} role` })
    req.agent = claims
  }
}

/**
 * An onRequest hook for a route that needs more than its context's requireAgent asked (say,
 * a supervisor's route among agents' ones): checks the role of the agent already admitted,
 * without reading the token again.
 */
export function requireRole(least: AgentRole) {
  return async (req: FastifyRequest) => {
    if (!req.agent) throw new AppError('unauthorized', { message: 'A valid agent token is required (POST /v1/auth/login)' })
    if (RANK[req.agent.role] < RANK[least]) throw new AppError('forbidden', { message: `This needs the ${least} role` })
  }
}
