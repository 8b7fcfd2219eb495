import type { Queryable } from '../db/pool.js'
import { AppError } from '../errors.js'

/**
 * Canned replies: a partnership's ready texts (or one team's), with variables filled for the
 * case at hand. Filling is a plain lookup of a fixed list of names, written by hand because
 * a template engine would be far more than this needs and would bring what must not be
 * here: expressions, helpers, partials, HTML escaping (these are texts and mails in plain
 * text). A value is put in as it is and never read again for variables, so a resident whose
 * name is "{{case.reference}}" gets exactly that; control characters are taken out of values.
 */

/** The variables a canned reply may use. */
export const VARIABLES = ['resident.first_name', 'resident.name', 'case.reference', 'council.name', 'service.name', 'agent.name'] as const
export type Variable = (typeof VARIABLES)[number]

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g

/** The variables a body names; an unknown one is a 400 naming it, as is an unclosed brace pair. */
export function variablesOf(body: string): Variable[] {
  const names = new Set<Variable>()
  for (const m of body.matchAll(PLACEHOLDER)) {
    const name = m[1]!
    if (!(VARIABLES as readonly string[]).includes(name)) {
      throw new AppError('validation_failed', { field: 'body', message: `Unknown variable {{${name}}}: use ${VARIABLES.map((v) => `{{${v}}}`).join(', ')}` })
    }
    names.add(name as Variable)
  }
  if (/\{\{|\}\}/.test(body.replace(PLACEHOLDER, ''))) throw new AppError('validation_failed', { field: 'body', message: 'A {{ has no matching }} (or the other way round)' })
  return [...names]
}

/** The body with each variable replaced by its value; those with no value are listed as missing (and left empty). */
export function fill(body: string, values: Partial<Record<Variable, string | null>>): { text: string; missing: Variable[] } {
  const missing = new Set<Variable>()
  const text = body.replace(PLACEHOLDER, (_all, name: Variable) => {
    const value = values[name]?.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '').trim()
    if (!value) {
      missing.add(name)
      return ''
    }
    return value
  })
  return { text, missing: [...missing] }
}

export interface CannedReply {
  id: number
  team_id: number | null
  title: string
  body: string
  updated_at: Date
}

export interface CannedInput {
  title: string
  body: string
  team_id: number | null
}

/** The partnership's canned replies, partnership-wide ones first, then by team and title. */
export async function listCanned(db: Queryable, partnershipId: string): Promise<CannedReply[]> {
  const { rows } = await db.query<CannedReply>(
    'select id, team_id, title, body, updated_at from canned_replies where partnership_id = $1 order by team_id nulls first, lower(title)',
    [partnershipId]
  )
  return rows
}

async function checkTeam(db: Queryable, partnershipId: string, teamId: number | null): Promise<void> {
  if (teamId === null) return
  const { rows } = await db.query('select 1 from teams where id = $1 and partnership_id = $2', [teamId, partnershipId])
  if (!rows.length) throw new AppError('validation_failed', { field: 'team_id', message: 'No team with this id in your partnership' })
}

const titleTaken = () => new AppError('validation_failed', { field: 'title', message: 'A canned reply with this title already exists for this team' })

async function uniquely<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === '23505') throw titleTaken()
    if (code === '23503') throw new AppError('validation_failed', { field: 'partnership', message: 'No such partnership' })
    throw err
  }
}

export async function createCanned(db: Queryable, partnershipId: string, input: CannedInput, by: string): Promise<CannedReply> {
  variablesOf(input.body)
  await checkTeam(db, partnershipId, input.team_id)
  return uniquely(async () => {
    const { rows } = await db.query<CannedReply>(
      `insert into canned_replies (partnership_id, team_id, title, body, created_by) values ($1, $2, $3, $4, $5)
       returning id, team_id, title, body, updated_at`,
      [partnershipId, input.team_id, input.title.trim(), input.body, by]
    )
    return rows[0]!
  })
}

export async function updateCanned(db: Queryable, partnershipId: string, id: number, input: CannedInput): Promise<CannedReply> {
  variablesOf(input.body)
  await checkTeam(db, partnershipId, input.team_id)
  return uniquely(async () => {
    const { rows } = await db.query<CannedReply>(
      `update canned_replies set team_id = $3, title = $4, body = $5, updated_at = now()
        where id = $1 and partnership_id = $2 returning id, team_id, title, body, updated_at`,
      [id, partnershipId, input.team_id, input.title.trim(), input.body]
    )
    if (!rows[0]) throw new AppError('not_found', { message: 'No canned reply with this id' })
    return rows[0]
  })
}

export async function deleteCanned(db: Queryable, partnershipId: string, id: number): Promise<boolean> {
  const { rowCount } = await db.query('delete from canned_replies where id = $1 and partnership_id = $2', [id, partnershipId])
  return (rowCount ?? 0) > 0
}

export interface FilledReply {
  id: number
  title: string
  text: string
  /** variables this case has no value for: left empty, for the agent to fill in by hand */
  missing: Variable[]
}

/**
 * The canned replies that apply to a case (partnership-wide, and its team's), filled for it
 * and for the agent; null when the case is not of the agent's partnership.
 */
export async function cannedForCase(db: Queryable, partnershipId: string, reference: string, agentId: number): Promise<FilledReply[] | null> {
  const { rows } = await db.query<{ values: Record<Variable, string | null> | null; replies: CannedReply[] }>(
    `select (select json_build_object(
                'resident.name', coalesce(c.reported_name, r.display_name),
                'resident.first_name', split_part(btrim(coalesce(c.reported_name, r.display_name, '')), ' ', 1),
                'case.reference', c.reference,
                'council.name', co.name,
                'service.name', s.name,
                'agent.name', (select coalesce(a.display_name, split_part(a.email, '@', 1)) from agents a where a.id = $3))
               from cases c join residents r on r.id = c.resident_id
               left join councils co on co.gss = c.council_gss left join services s on s.code = c.service_code
              where c.reference = $1 and c.partnership_id = $2) as values,
            coalesce((select json_agg(json_build_object('id', k.id, 'title', k.title, 'body', k.body) order by k.team_id nulls first, lower(k.title))
                        from canned_replies k
                       where k.partnership_id = $2
                         and (k.team_id is null or exists (
                               -- a team's replies are for the cases in its queue: sent to it, or to no team in a council it serves
                               select 1 from cases c join teams t on t.id = k.team_id
                                where c.reference = $1 and c.partnership_id = $2
                                  and (c.team_id = t.id or (c.team_id is null and (t.council_gss is null or t.council_gss = c.council_gss)))))), '[]') as replies`,
    [reference, partnershipId, agentId]
  )
  const { values, replies } = rows[0]!
  if (!values) return null
  return replies.map((k) => ({ id: k.id, title: k.title, ...fill(k.body, values) }))
}
