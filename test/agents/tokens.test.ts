import { createSigner } from 'fast-jwt'
import { describe, expect, it } from 'vitest'
import { agentTokens } from '../../src/agents/tokens.js'

const SECRET = 'agent-token-secret-for-tests-0123456789'

describe('agent tokens', () => {
  it('carry the agent, their partnership and role, and are accepted by every process with the same secret', () => {
    const before = Date.now()
    const token = agentTokens(SECRET, 15).sign({ agentId: 7, partnershipId: 'tri-borough', role: 'supervisor' })
    const verified = agentTokens(SECRET, 15).verify(token)
    // the session generation (0 until the agent is first disabled), and when it expires, so a live socket can be closed then
    expect(verified).toMatchObject({ agentId: 7, partnershipId: 'tri-borough', role: 'supervisor', generation: 0 })
    expect(verified!.expiresAt).toBeGreaterThanOrEqual(before - 1_000 + 15 * 60_000)
    expect(verified!.expiresAt).toBeLessThanOrEqual(Date.now() + 15 * 60_000)
    expect(agentTokens(SECRET, 15).verify(agentTokens(SECRET, 15).sign({ agentId: 7, partnershipId: 'tri-borough', role: 'agent', generation: 3 }))?.generation).toBe(3)
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

  it('are refused without an expiry, or without a session generation, even signed with our secret', () => {
    const claims = { sub: '7', ptn: 'tri-borough', role: 'admin', gen: 0 }
    // signed as ours in every other way: same key, algorithm, issuer and audience
    const forever = createSigner({ key: SECRET, algorithm: 'HS256', iss: 'switchboard', aud: 'agent' })(claims)
    expect(agentTokens(SECRET, 15).verify(forever)).toBeNull()
    const { gen: _gen, ...ungenerated } = claims
    expect(agentTokens(SECRET, 15).verify(createSigner({ key: SECRET, algorithm: 'HS256', iss: 'switchboard', aud: 'agent', expiresIn: 60_000 })(ungenerated))).toBeNull()
    // the same claims with both are taken, so it is the missing claim that is refused
    expect(agentTokens(SECRET, 15).verify(createSigner({ key: SECRET, algorithm: 'HS256', iss: 'switchboard', aud: 'agent', expiresIn: 60_000 })(claims))).not.toBeNull()
  })
})
