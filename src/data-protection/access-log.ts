import type { FastifyRequest } from 'fastify'
import type { Queryable } from '../db/pool.js'

/**
 * The record of every read of a case's personal data (migrations/019 access_log): who,
 * when, which case, through which route. Append-only; kept under its own retention class.
 */

export interface Reader {
  kind: 'agent' | 'council_key' | 'operator'
  /** 'agent:12', 'api_key:5', 'operator' or 'operator:cli' */
  id: string
}

/** A case as read: enough to find the record by reference and to apply its council's schedule. */
export interface CaseRead {
  id: number
  reference: string
  council_gss: string | null
}

/**
 * Who a request reads as, from what its authentication hook recorded: an agent's token, a
 * council key or the operator key. A route that serves personal data without any of them is
 * a mistake, refused here rather than recorded under a wrong name.
 */
export function readerOf(req: FastifyRequest): Reader {
  if (req.agent) return { kind: 'agent', id: `agent:${req.agent.agentId}` }
  if (req.apiKey) return { kind: 'council_key', id: `api_key:${req.apiKey.id}` }
  if (req.operator) return { kind: 'operator', id: 'operator' }
  throw new Error(`${routeOf(req)} served personal data to a caller with no agent token, council key or operator key`)
}

/** The route a request came through, as its pattern ('GET /v1/cases/:reference'), never its URL (which may carry a contact). */
export function routeOf(req: FastifyRequest): string {
  return `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`
}

/**
 * Records that `reader` read these cases through `route`, in one statement. Called before
 * the answer is sent, so a read that cannot be recorded is not served (the caller's error
 * handler answers 503 and the client retries).
 */
export async function recordReads(db: Queryable, reader: Reader, cases: CaseRead[], route: string, requestId?: string): Promise<void> {
  if (!cases.length) return
  await db.query({
    name: 'access-log-record',
    text: `insert into access_log (actor_kind, actor, case_id, reference, council_gss, route, request_id)
           select $1, $2, c.id, c.reference, c.council_gss, $6, $7
             from unnest($3::bigint[], $4::text[], $5::text[]) as c (id, reference, council_gss)`,
    values: [reader.kind, reader.id, cases.map((c) => c.id), cases.map((c) => c.reference), cases.map((c) => c.council_gss), route, requestId ?? null]
  })
}

/** recordReads for a request: the reader and route taken from it. */
export async function recordRequestReads(db: Queryable, req: FastifyRequest, cases: CaseRead[]): Promise<void> {
  await recordReads(db, readerOf(req), cases, routeOf(req), req.id)
}

/**
 * The cases with these references, for recording reads of answers that name cases by
 * reference only (a delivery list, Open311's updates). Unknown references are left out;
 * each case once, however often it is named.
 */
export async function casesByReference(db: Queryable, references: string[]): Promise<CaseRead[]> {
  if (!references.length) return []
  const { rows } = await db.query<CaseRead>({
    name: 'access-log-cases-by-reference',
    text: 'select id, reference, council_gss from cases where reference = any($1::text[]) order by id',
    values: [[...new Set(references)]]
  })
  return rows
}

/** A recorded read, as the data protection officer sees it. */
export interface RecordedRead {
  /** ISO 8601 in UTC to the microsecond, exactly as stored, so it can be given back as `since` */
  at: string
  actor_kind: Reader['kind']
  actor: string
  route: string
  request_id: string | null
}

export interface ReadFilter {
  /** one actor ('agent:12', 'api_key:5', 'operator:cli'), or every actor of a kind ('agent', 'council_key', 'operator') */
  actor?: string
  /** only reads after this instant (the `at` of the last read of the previous page) */
  since?: string
  limit: number
}

const KINDS: readonly string[] = ['agent', 'council_key', 'operator'] satisfies Reader['kind'][]

/**
 * The recorded reads of one case, oldest first, or null when there is no such case and no
 * read of it. A page never splits reads made at the very same microsecond (it runs past
 * `limit` to take them all), so following `since` from page to page misses none.
 */
export async function listReads(db: Queryable, reference: string, f: ReadFilter): Promise<RecordedRead[] | null> {
  const byKind = f.actor !== undefined && KINDS.includes(f.actor)
  const { rows } = await db.query<RecordedRead & { known: boolean }>({
    name: 'access-log-list',
    text: `with known as (
             select exists (select 1 from cases where reference = $1) or exists (select 1 from access_log where reference = $1) as known
           ), matching as (
             select id, at, actor_kind, actor, route, request_id from access_log
              where reference = $1
                and ($2::text is null or (case when $3::boolean then actor_kind = $2 else actor = $2 end))
                and ($4::timestamptz is null or at > $4)
           ), page as (
             select * from matching order by at, id limit $5
           ), tied as (
             select * from matching where at = (select max(at) from page) and id not in (select id from page)
           ), reads as (
             select * from page union all select * from tied
           )
           select known.known, to_char(r.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, r.actor_kind, r.actor, r.route, r.request_id
             from known left join reads r on true
            order by r.at, r.id`,
    values: [reference, f.actor ?? null, byKind, f.since ?? null, f.limit]
  })
  if (!rows[0]?.known) return null
  return rows.filter((r) => r.at !== null).map(({ known: _known, ...read }) => read)
}
