import { describe, expect, it } from 'vitest'
import { agentTokens } from '../../src/agents/tokens.js'

const SECRET = 'agent-token-secret-for-tests-0123456789'

describe('agent tokens', () => {
  it('carry the agent, their partnership and role, and are accepted by every process with the same secret', () => {
    const token = agentTokens(SECRET, 15).sign({ agentId: 7, partnershipId: 'tri-borough', role: 'supervisor' })
    expect(agentTokens(SECRET, 15).verify(token)).toEqual({ agentId: 7, partnershipId: 'tri-borough', role: 'supervisor' })
  })

  it('are refused when tampered with, signed with another secret, expired, or not tokens at all', async () => {
    const tokens = agentTokens(SECRET, 15)
    const token = tokens.sign({ agentId: 7, partnershipId: 'tri-borough', role: 'agent' })
    const [head, body, sig] = token.split('.')
    // the same token claiming to be an admin
    const forged = [head, Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body!, 'base64url').toString()), role: 'admin' })).toString('base64url'), sig].join('.')
    expect(tokens.verify(forged)).toBeNull()
    expect(agentTokens('another-secret-entirely-0123456789abcd', 15).verify(token)).toBeNull()
    expect(tokens.verify('not-a-token')).toBeNull()
    expect(tokens.verify('')).toBeNull()
    // an unsigned token (alg none) is never taken
    const none = [Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url'), body, ''].join('.')
    expect(tokens.verify(none)).toBeNull()
  })

  it('expire after their time', () => {
    const past = Date.now() - 16 * 60_000
    const realNow = Date.now
    Date.now = () => past
    let token: string
    try {
      token = agentTokens(SECRET, 15).sign({ agentId: 1, partnershipId: 'tri-borough', role: 'agent' })
    } finally {
      Date.now = realNow
    }
    expect(agentTokens(SECRET, 15).verify(token)).toBeNull()
  })
})
