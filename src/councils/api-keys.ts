import { createHash, randomBytes } from 'node:crypto'
import type { Queryable } from '../db/pool.js'

export const API_KEY_SCOPES = ['read', 'write', 'open311'] as const
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number]

/** What a key lets its holder do: whose cases, and how. */
export interface ApiKeyGrant {
  id: number
  prefix: string
  councilGss: string | null
  partnershipId: string | null
  scopes: ApiKeyScope[]
  /** the councils whose cases it may see: its own, or its partnership's members */
  councils: string[]
}

export interface ApiKeyRow {
  id: number
  prefix: string
  council: string | null
  partnership: string | null
  scopes: ApiKeyScope[]
  label: string | null
  created_at: Date
  revoked_at: Date | null
  last_used_at: Date | null
}

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex')

/**
 * Makes a key for one council (or one partnership's operators): `sbk_` and 43 characters of
 * base64url (32 random bytes). Only its SHA-256 is stored, so it is shown this once.
 */
export async function createApiKey(
  db: Queryable,
  owner: { council?: string | null; partnership?: string | null },
  scopes: ApiKeyScope[],
  label: string | null = null
): Promise<{ id: number; key: string; prefix: string }> {
  const key = `sbk_${randomBytes(32).toString('base64url')}`
  const prefix = key.slice(0, 12)
  const { rows } = await db.query<{ id: number }>(
    `insert into api_keys (key_hash, prefix, council_gss, partnership_id, scopes, label) values ($1, $2, $3, $4, $5, $6) returning id`,
    [hashOf(key), prefix, owner.council ?? null, owner.partnership ?? null, [...new Set(scopes)], label]
  )
  return { id: rows[0]!.id, key, prefix }
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyRow[]> {
  const { rows } = await db.query<ApiKeyRow>(
    `select id, prefix, council_gss as council, partnership_id as partnership, scopes, label, created_at, revoked_at, last_used_at
       from api_keys order by id`
  )
  return rows
}

/** Revokes a key by id or prefix; true if one was live. */
export async function revokeApiKey(db: Queryable, idOrPrefix: string): Promise<boolean> {
  const byId = /^[0-9]+$/.test(idOrPrefix)
  const { rowCount } = await db.query(
    `update api_keys set revoked_at = now() where ${byId ? 'id = $1::bigint' : 'prefix = $1'} and revoked_at is null`,
    [idOrPrefix]
  )
  return (rowCount ?? 0) > 0
}

/**
 * The live key this is, with the councils it may see; null for anything else (unknown,
 * revoked, malformed). Looked up by its hash: no comparison of secrets in our code.
 */
export async function findApiKey(db: Queryable, key: string): Promise<ApiKeyGrant | null> {
  if (!/^sbk_[A-Za-z0-9_-]{43}$/.test(key)) return null
  const { rows } = await db.query<{ id: number; prefix: string; council_gss: string | null; partnership_id: string | null; scopes: ApiKeyScope[]; councils: string[] }>({
    name: 'api-key-find',
    text: `select k.id, k.prefix, k.council_gss, k.partnership_id, k.scopes,
                  case when k.council_gss is not null then array[k.council_gss]
                       else coalesce((select array_agg(m.council_gss order by m.council_gss) from partnership_members m where m.partnership_id = k.partnership_id), '{}') end as councils
             from api_keys k where k.key_hash = $1 and k.revoked_at is null`,
    values: [hashOf(key)]
  })
  const r = rows[0]
  return r ? { id: r.id, prefix: r.prefix, councilGss: r.council_gss, partnershipId: r.partnership_id, scopes: r.scopes, councils: r.councils } : null
}

/** Records that a key was used; at most once a minute per key, so reads stay reads. */
export function touchApiKey(db: Queryable, id: number): void {
  const now = Date.now()
  if ((lastTouched.get(id) ?? 0) > now - 60_000) return
  lastTouched.set(id, now)
  db.query('update api_keys set last_used_at = now() where id = $1', [id]).catch(() => {})
}
const lastTouched = new Map<number, number>()
