import type { Queryable } from '../db/pool.js'
import { AppError } from '../errors.js'
import { normaliseEmail } from '../lib/contact-points.js'
import { generatePassword, hashPassword } from './passwords.js'
import type { AgentRole } from './tokens.js'

export const AGENT_ROLES = ['agent', 'supervisor', 'admin'] as const satisfies readonly AgentRole[]
/** The team every new agent of a partnership joins unless told otherwise (one per partnership in the demo data). */
export const DEFAULT_TEAM = 'Contact centre'

/** What an operator gives to open an account. */
export interface NewAgent {
  partnership: string
  email: string
  role: AgentRole
  /** open cases at once, 1 to 100; the table's default (5) when left out */
  capacity?: number
  displayName?: string | null
  /** team names within the partnership; by default its 'Contact centre' team, if it has one */
  teams?: string[]
}

/** An active agent as login needs it. */
export interface LoginAgent {
  id: number
  partnershipId: string
  role: AgentRole
  passwordHash: string
  /** the session generation its tokens carry (a disable moves it on) */
  generation: number
}

/**
 * Opens an agent account with a generated one-time password, returned this once (only its
 * scrypt hash is stored). Refuses an invalid email or role, an unknown partnership or team,
 * and an email another agent already has, each as an AppError naming the field.
 */
export async function createAgent(db: Queryable, input: NewAgent): Promise<{ id: number; password: string }> {
  const email = normaliseEmail(input.email)
  if (!email) throw new AppError('invalid_email', { field: 'email' })
  if (!(AGENT_ROLES as readonly string[]).includes(input.role)) {
    throw new AppError('validation_failed', { field: 'role', message: `The role must be one of ${AGENT_ROLES.join(', ')}` })
  }
  if (input.capacity !== undefined && !(Number.isInteger(input.capacity) && input.capacity >= 1 && input.capacity <= 100)) {
    throw new AppError('validation_failed', { field: 'capacity', message: 'The capacity must be a whole number from 1 to 100' })
  }
  const partnership = await db.query('select 1 from partnerships where id = $1', [input.partnership])
  if (!partnership.rows.length) throw new AppError('validation_failed', { field: 'partnership', message: `There is no partnership ${input.partnership}` })
  const teamIds = await teamsOf(db, input.partnership, input.teams)
  const taken = await db.query('select 1 from agents where email = $1', [email])
  if (taken.rows.length) throw emailTaken()

  const password = generatePassword()
  const hash = await hashPassword(password)
  try {
    // one statement, so the account and its memberships exist together or not at all, on a pool or inside a caller's transaction
    const { rows } = await db.query<{ id: number }>(
      `with agent as (
         insert into agents (partnership_id, email, display_name, role, password_hash, capacity)
         values ($1, $2, $3, $4, $5, coalesce($6::int, 5)) returning id
       ), joined as (
         insert into agent_teams (agent_id, team_id) select agent.id, t from agent, unnest($7::bigint[]) as t
       )
       select id from agent`,
      [input.partnership, email, input.displayName?.trim() || null, input.role, hash, input.capacity ?? null, teamIds]
    )
    return { id: rows[0]!.id, password }
  } catch (err) {
    // two operators adding the same address at once: the unique index decides
    if ((err as { code?: string }).code === '23505') throw emailTaken()
    throw err
  }
}

/** The active agent with this email (compared lower-cased), or null; an inactive account is as good as none. */
export async function findAgentForLogin(db: Queryable, email: string): Promise<LoginAgent | null> {
  const normalised = normaliseEmail(email)
  if (!normalised) return null
  const { rows } = await db.query<{ id: number; partnership_id: string; role: AgentRole; password_hash: string; session_generation: number }>({
    name: 'agent-find-for-login',
    text: 'select id, partnership_id, role, password_hash, session_generation from agents where email = $1 and active',
    values: [normalised]
  })
  const r = rows[0]
  return r ? { id: r.id, partnershipId: r.partnership_id, role: r.role, passwordHash: r.password_hash, generation: r.session_generation } : null
}

/**
 * Disables or enables an agent's account, named by id or email. A disabled agent cannot log
 * in, and their tokens and live sockets stop working within AGENT_REVOCATION_S (at once where
 * the API hears Postgres announce the change, migration 021); enabling lets them log in again,
 * and tokens from before the disable stay refused.
 * Null when no agent is so named.
 */
export async function setAgentActive(db: Queryable, idOrEmail: string, active: boolean): Promise<{ id: number; active: boolean } | null> {
  const byId = /^[0-9]{1,15}$/.test(idOrEmail.trim()) ? Number(idOrEmail.trim()) : null
  const email = byId === null ? normaliseEmail(idOrEmail) : null
  if (byId === null && !email) return null
  const { rows } = await db.query<{ id: number; active: boolean }>(
    `update agents set active = $3, session_generation = session_generation + case when $3 then 0 else 1 end
      where ($1::bigint is not null and id = $1) or ($2::text is not null and email = $2) returning id, active`,
    [byId, email, active]
  )
  return rows[0] ?? null
}

/** The ids of the named teams of this partnership; with no names, its default team if it has one. */
async function teamsOf(db: Queryable, partnership: string, names: string[] | undefined): Promise<number[]> {
  const wanted = names === undefined ? [DEFAULT_TEAM] : [...new Set(names.map((n) => n.trim()).filter(Boolean))]
  if (!wanted.length) return []
  const { rows } = await db.query<{ id: number; name: string }>('select id, name from teams where partnership_id = $1 and name = any($2::text[])', [partnership, wanted])
  const missing = wanted.filter((n) => !rows.some((r) => r.name === n))
  // the default team is a convenience: a partnership without one just gets an agent in no team
  if (missing.length && names !== undefined) {
    throw new AppError('validation_failed', { field: 'teams', message: `The partnership ${partnership} has no team named ${missing.join(', ')}` })
  }
  return rows.map((r) => r.id)
}

const emailTaken = () => new AppError('validation_failed', { field: 'email', message: 'An agent with this email address already exists' })
