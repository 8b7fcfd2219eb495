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

/** Who a request reads as, from what its authentication hook recorded: an agent's token, a council key, else the operator key. */
export function readerOf(req: FastifyRequest): Reader {
  if (req.agent) return { kind: 'agent', id: `agent:${req.agent.agentId}` }
  if (req.apiKey) return { kind: 'council_key', id: `api_key:${req.apiKey.id}` }
  return { kind: 'operator', id: 'operator' }
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
