/**
 * What a council is told of the report a reporting client (FixMyStreet) made of a case:
 * every field the client may send, each present and null when it did not send it, so a
 * council's integration reads one shape whatever the client.
 */
export interface ExternalReportView {
  /** who made the report: 'fixmystreet', or the client's own name */
  client: string | null
  /** the client's own id for the report */
  id: string | null
  /** the report's public page */
  url: string | null
  title: string | null
  closest_address: string | null
  /** British National Grid metres, as the client sent them */
  easting: number | null
  northing: number | null
}

const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : null)
const metres = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)

/**
 * The council's view of `cases.external_report` as stored (kept as the client sent it, so
 * read field by field: an id sent as a number is given as text, a field of another type
 * as null). Null when the case came from no reporting client.
 */
export function externalReportView(stored: unknown): ExternalReportView | null {
  if (!stored || typeof stored !== 'object' || Array.isArray(stored)) return null
  const r = stored as Record<string, unknown>
  return {
    client: text(r.client),
    id: text(r.id),
    url: text(r.url),
    title: text(r.title),
    closest_address: text(r.closest_address),
    easting: metres(r.easting),
    northing: metres(r.northing)
  }
}

/** The client's name as people write it. */
function clientName(client: string | null): string {
  if (!client) return 'Reporting client'
  return client.toLowerCase() === 'fixmystreet' ? 'FixMyStreet' : client
}

/** One line for people: "FixMyStreet report 12345, https://www.fixmystreet.com/report/12345". */
export function describeExternalReport(r: ExternalReportView): string {
  return [`${clientName(r.client)} report${r.id ? ` ${r.id}` : ''}`, r.url].filter(Boolean).join(', ')
}
