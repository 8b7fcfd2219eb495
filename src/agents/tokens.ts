import { createSigner, createVerifier } from 'fast-jwt'

export type AgentRole = 'agent' | 'supervisor' | 'admin'

/** Who an agent token speaks for; everything a route needs to scope its queries. */
export interface AgentClaims {
  /** the agent's id */
  agentId: number
  partnershipId: string
  role: AgentRole
  /** the agent's session generation when the token was issued (agents.session_generation; 0 if left out) */
  generation?: number
}

/** The claims of a token that verified, and when it expires. */
export interface VerifiedAgent extends AgentClaims {
  generation: number
  /** when the token expires (ms since the epoch): a live socket is closed then */
  expiresAt: number
}

export interface AgentTokens {
  sign(claims: AgentClaims): string
  /** the claims of a valid, unexpired token of ours; null for anything else, a token without `exp` included */
  verify(token: string): VerifiedAgent | null
  ttlSeconds: number
}

/**
 * Short-lived bearer tokens for agents: HS256 JWTs (fast-jwt) signed with AGENT_TOKEN_SECRET,
 * so every API process accepts every other's, expiring after AGENT_TOKEN_TTL_MINUTES. A token
 * must carry `exp` (fast-jwt would otherwise take one without it as valid for ever). This
 * checks the token alone; src/agents/sessions.ts also checks that its agent is still active.
 */
export function agentTokens(secret: string, ttlMinutes: number): AgentTokens {
  const ttlSeconds = ttlMinutes * 60
  const signer = createSigner({ key: secret, algorithm: 'HS256', expiresIn: ttlSeconds * 1000, iss: 'switchboard', aud: 'agent' })
  const verifier = createVerifier({ key: secret, algorithms: ['HS256'], allowedIss: 'switchboard', allowedAud: 'agent', requiredClaims: ['exp', 'sub'], cache: 1000 })
  return {
    ttlSeconds,
    sign: (c) => signer({ sub: String(c.agentId), ptn: c.partnershipId, role: c.role, gen: c.generation ?? 0 }),
    verify(token) {
      try {
        const p = verifier(token) as { sub?: unknown; ptn?: unknown; role?: unknown; exp?: unknown; gen?: unknown }
        const agentId = Number(p.sub)
        if (!Number.isInteger(agentId) || typeof p.ptn !== 'string' || !['agent', 'supervisor', 'admin'].includes(String(p.role))) return null
        if (typeof p.exp !== 'number' || !Number.isFinite(p.exp) || !Number.isInteger(p.gen)) return null
        return { agentId, partnershipId: p.ptn, role: p.role as AgentRole, generation: p.gen as number, expiresAt: p.exp * 1000 }
      } catch {
        return null
      }
    }
  }
}
