import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { recordRequestReads, type CaseRead } from '../../../data-protection/access-log.js'
import type { Db } from '../../../db/pool.js'
import type { IntakeBatcher } from '../../../intake/intake-batcher.js'
import { accessOf } from '../../../open311/access.js'
import { Open311Error, toXmlDocument, type Format } from '../../../open311/format.js'
import type { RequestRow } from '../../../open311/records.js'
import { publicLocation } from '../../../open311/public-location.js'
import { ErrorList, type RequestRecord } from '../../../open311/schemas.js'

/** What the Open311 calls (services.ts, requests.ts, updates.ts) share: limits, the key checks, how a case is shown. */

export type Open311App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>
type Access = (req: FastifyRequest, reply: FastifyReply) => Promise<void>
/** The context's intake and its three key checks (open311Access), made once in index.ts; the rest is on the app (app.db…). */
export interface Open311Context {
  intake: IntakeBatcher
  /** a key is optional (read or open311 scope); without one, the public's view */
  anyone: Access
  /** a key with the open311 scope is required */
  poster: Access
  /** a key with the read or open311 scope is required */
  reader: Access
}

export const MAX_RESULTS = 1000
export const OPEN311_BODY_LIMIT = 1_048_576
const WINDOW_MS = 90 * 24 * 3600 * 1000
export const TAGS = ['open311']
export const errors = { 400: ErrorList, 403: ErrorList, 404: ErrorList }
export const CHANGESET = '2025-01-01T00:00:00Z'

/**
 * The time window of a list call: at most 90 days; by default the last 90 days, or the 90
 * days from the start given.
 */
export function windowOf(q: { start_date?: string; end_date?: string }): { start: Date; end: Date } {
  const end = q.end_date ? new Date(q.end_date) : q.start_date ? new Date(Math.min(Date.parse(q.start_date) + WINDOW_MS, Date.now())) : new Date()
  const start = q.start_date ? new Date(q.start_date) : new Date(end.getTime() - WINDOW_MS)
  if (start > end) throw new Open311Error(400, 'start_date is after end_date')
  if (end.getTime() - start.getTime() > WINDOW_MS) throw new Open311Error(400, 'start_date and end_date are at most 90 days apart')
  return { start, end }
}

/**
 * Records a council key's read of these cases before the answer goes. A keyless call reads
 * nothing personal (recordOf gives it no reporter, words, address or photo) and is nobody
 * the log could name, so it records nothing.
 */
export async function recordKeyReads(db: Db, req: FastifyRequest, gss: string, rows: Pick<RequestRow, 'id' | 'reference'>[]): Promise<void> {
  if (!accessOf(req).key) return
  // a case is the jurisdiction's (placed with it, or sent to it and not yet placed)
  await recordRequestReads(db, req, rows.map((r): CaseRead => ({ id: r.id, reference: r.reference, council_gss: gss })))
}

export const commaList = (v: string | undefined) =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean) ?? null

/**
 * A case as an Open311 record. With the council's key, all of it; without, what a street
 * problem shows the public: never who reported it nor their words (residents write their
 * names into descriptions), the service name standing for the description, and for a
 * problem at a home no more of where than the outward code and a 100 m square.
 */
export function recordOf(row: RequestRow, full: boolean): RequestRecord {
  const where = full ? { zipcode: row.postcode, lat: row.lat, long: row.lng } : publicLocation(row.location_kind, row)
  return {
    service_request_id: row.reference,
    status: row.status === 'resolved' ? 'closed' : 'open',
    status_notes: full ? row.status_notes : null,
    service_name: row.service_name,
    service_code: row.service_code,
    description: full ? row.description.slice(0, 4000) : row.service_name,
    agency_responsible: row.council_name,
    service_notice: null,
    requested_datetime: row.created_at.toISOString(),
    updated_datetime: row.updated_at.toISOString(),
    expected_datetime: row.sla_due_at?.toISOString() ?? null,
    // a street address or photo can show whose home it is: with the council's key only
    address: full ? row.address : null,
    address_id: full ? row.address_id : null,
    zipcode: where.zipcode,
    lat: where.lat,
    long: where.long,
    media_url: full ? row.media_url : null
  }
}

/** A call's summary, tags and media type in the OpenAPI document, for one format. */
export function describeFor(fmt: Format) {
  return (summary: string) => ({ summary: `${summary} (${fmt.toUpperCase()})`, tags: TAGS, produces: [fmt === 'xml' ? 'text/xml' : 'application/json'] })
}

/** A single document: the JSON object, or the XML root holding its fields. */
export function send(reply: FastifyReply, fmt: Format, doc: Record<string, unknown>, root: string, lists: Record<string, string>) {
  if (fmt === 'json') return reply.type('application/json; charset=utf-8').send(doc)
  return reply.type('text/xml; charset=utf-8').send(toXmlDocument(root, doc, lists))
}
