import { createSigner, createVerifier } from 'fast-jwt'

export type AgentRole = 'agent' | 'supervisor' | 'admin'

/** Who an agent token speaks for; everything a route needs to scope its queries. */
export interface AgentClaims {
  /** the agent's id */
  agentId: number
  partnershipId: string
  role: AgentRole
}

export interface AgentTokens {
  sign(claims: AgentClaims): string
  /** the claims of a valid, unexpired token of ours; null for anything else */
  verify(token: string): AgentClaims | null
  ttlSeconds: number
}

/**
 * Short-lived bearer tokens for agents: HS256 JWTs (fast-jwt) signed with AGENT_TOKEN_SECRET,
 * so every API process accepts every other's, expiring after AGENT_TOKEN_TTL_MINUTES.
 */
export function agentTokens(secret: string, ttlMinutes: number): AgentTokens {
  const ttlSeconds = ttlMinutes * 60
  const signer = createSigner({ key: secret, algorithm: 'HS256', expiresIn: ttlSeconds * 1000, iss: 'switchboard', aud: 'agent' })
  const verifier = createVerifier({ key: secret, algorithms: ['HS256'], allowedIss: 'switchboard', allowedAud: 'agent', cache: 1000 })
  return {
    ttlSeconds,
    sign: (c) => signer({ sub: String(c.agentId), ptn: c.partnershipId, role: c.role }),
    verify(token) {
      try {
        const p = verifier(token) as { sub?: unknown; ptn?: unknown; role?: unknown }
        const agentId = Number(p.sub)
        if (!Number.isInteger(agentId) || typeof p.ptn !== 'string' || !['agent', 'supervisor', 'admin'].includes(String(p.role))) return null
        return { agentId, partnershipId: p.ptn, role: p.role as AgentRole }
      } catch {
        return null
      }
    }
  }
}
