import { createHmac } from 'node:crypto'
import type { Queryable } from '../db/pool.js'
import type { Infra } from '../infra.js'
import { perTurn } from '../lib/per-turn.js'
import { agentTokens, type AgentClaims, type AgentRole, type AgentTokens, type VerifiedAgent } from './tokens.js'

/**
 * Agents' sessions: a signed, unexpired token (src/agents/tokens.ts) whose agent still exists,
 * is active and has the partnership and role the token names. What each agent's account says
 * is kept in memory for AGENT_REVOCATION_S at most, so a request costs a map lookup, and a
 * disabled agent (`npm run cli -- agent disable`) is refused within that time; sooner, as
 * Postgres announces each change to an account (migration 021) and `forget` is called.
 */
export interface AgentSessions {
  readonly ttlSeconds: number
  /** AGENT_REVOCATION_S in milliseconds: the longest an account is trusted as last read */
  readonly revocationMs: number
  /** a token for an agent, as login answers it */
  sign(claims: AgentClaims): Promise<string>
  /** the agent a token speaks for, or null: a bad or expired token, or an agent no longer active as the token says */
  authenticate(token: string): Promise<VerifiedAgent | null>
  /** whether the agent is still active, in the partnership and role the token names, and was not disabled since it was issued */
  holds(claims: VerifiedAgent): Promise<boolean>
  /** reads these agents' accounts now, in one query (the live view does, every revocationMs, for its sockets) */
  refresh(agentIds: number[]): Promise<void>
  /** drops what is known of an agent, so the next check reads the account again */
  forget(agentId: number): void
}

interface Account {
  partnershipId: string
  role: AgentRole
  /** tokens of another generation (issued before the last disable) are over */
  generation: number
}
type AccountRow = { id: number; partnership_id: string; role: AgentRole; session_generation: number }
const accountOfRow = (r: AccountRow): Account => ({ partnershipId: r.partnership_id, role: r.role, generation: r.session_generation })

/** More agents than this remembered at once, and the cache starts again (only signed tokens reach it). */
const MAX_REMEMBERED = 10_000

export function agentSessions(infra: Pick<Infra, 'db' | 'config'>): AgentSessions {
  const { db, config } = infra
  const revocationMs = config.AGENT_REVOCATION_S * 1000
  const known = new Map<number, { account: Account | null; until: number }>()
  const loading = new Map<number, Promise<Account | null>>()
  // bumped by forget(): a read that began before a change must not be remembered after it
  let epoch = 0

  let signing: Promise<AgentTokens> | undefined
  const tokens = (): Promise<AgentTokens> => {
    signing ??= tokenSecret(db, config.AGENT_TOKEN_SECRET).then(
      (secret) => agentTokens(secret, config.AGENT_TOKEN_TTL_MINUTES),
      (err: unknown) => {
        signing = undefined // Postgres away: try again on the next request
        throw err
      }
    )
    return signing
  }

  const remember = (ids: number[], rows: AccountRow[], since: number) => {
    if (since !== epoch) return
    if (known.size > MAX_REMEMBERED) known.clear()
    const until = Date.now() + revocationMs
    for (const id of ids) known.set(id, { account: null, until })
    for (const r of rows) known.set(r.id, { account: accountOfRow(r), until })
  }

  const read = async (ids: number[]) => {
    const since = epoch
    const { rows } = await db.query<AccountRow>({
      name: 'agent-sessions-read',
      text: 'select id, partnership_id, role, session_generation from agents where id = any($1::bigint[]) and active',
      values: [ids]
    })
    remember(ids, rows, since)
    return rows
  }

  // The accounts asked for in one turn of the event loop, read together: when a whole
  // contact centre's desks reconnect at once (the app restarted, the network came back),
  // hundreds of agents arrive in the same moment, and one read each would queue them for
  // the pool's connections until some were refused (seen: 5 of 500 desks on a fresh process).
  const readTogether = perTurn(async (ids: number[]) => {
    const found = new Map((await read([...new Set(ids)])).map((r) => [Number(r.id), accountOfRow(r)]))
    return (id: number) => found.get(id) ?? null
  })

  const accountOf = (id: number): Promise<Account | null> => {
    const hit = known.get(id)
    if (hit && hit.until > Date.now()) return Promise.resolve(hit.account)
    const shared = loading.get(id)
    if (shared) return shared
    // concurrent requests of one agent share one read; of several agents, one statement
    const pending: Promise<Account | null> = readTogether(id).finally(() => {
      if (loading.get(id) === pending) loading.delete(id)
    })
    loading.set(id, pending)
    return pending
  }

  const holds = async (claims: VerifiedAgent) => {
    const account = await accountOf(claims.agentId)
    // a token minted before a change of partnership or role is not the account any more: log in again
    return account !== null && account.partnershipId === claims.partnershipId && account.role === claims.role && claims.generation === account.generation
  }

  return {
    ttlSeconds: config.AGENT_TOKEN_TTL_MINUTES * 60,
    revocationMs,
    sign: async (claims) => (await tokens()).sign(claims),
    async authenticate(token) {
      const claims = (await tokens()).verify(token)
      return claims && (await holds(claims)) ? claims : null
    },
    holds,
    async refresh(agentIds) {
      if (agentIds.length) await read([...new Set(agentIds)])
    },
    forget(agentId) {
      epoch++
      known.delete(agentId)
      loading.delete(agentId)
    }
  }
}

/**
 * AGENT_TOKEN_SECRET when set (required in production); else a secret derived from the random
 * value migration 021 made in this database, which every process of the deployment reads alike.
 */
export async function tokenSecret(db: Queryable, configured: string | undefined): Promise<string> {
  if (configured) return configured
  const { rows } = await db.query<{ secret: string }>('select secret from agent_token_key')
  if (!rows[0]) throw new Error('agent_token_key holds no row: the database was not migrated (migration 021)')
  return createHmac('sha256', rows[0].secret).update('switchboard agent tokens').digest('base64url')
}
