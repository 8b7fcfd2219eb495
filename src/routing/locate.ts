import type { Queryable } from '../db/pool.js'
import { parsePostcode } from '../lib/postcode.js'

/** Where the case is, as far as coverage data can tell. */
export type Location =
  | { kind: 'found'; councilGss: string; reason: string }
  | { kind: 'ambiguous'; candidates: string[]; reason: string }
  | { kind: 'unknown'; reason: string }

/** Which council an area belongs to, as the coverage table says. */
export interface CoverageRow {
  kind: 'unit' | 'sector' | 'outcode'
  council_gss: string
}

/** A unit postcode further than this from the reported point is not trusted to place it. */
const MAX_NEAREST_METRES = 2_000

/**
 * Finds the council (district or single-tier) whose area holds the case: postcode unit,
 * then sector, then outcode (from `where.coverage`, the coverage rows of the postcode, which
 * the caller reads with the case); then the nearest unit postcode to the coordinates.
 * `describe` turns a GSS code into words for the reason.
 */
export async function locate(
  db: Queryable,
  where: { postcode: string | null; lat: number | null; lng: number | null; coverage: CoverageRow[] },
  describe: (gss: string) => string
): Promise<Location> {
  let ambiguous: Location | null = null
  const pc = where.postcode ? parsePostcode(where.postcode) : null
  if (pc) {
    const rows = where.coverage
    const levels: [kind: 'unit' | 'sector' | 'outcode', label: string][] = [
      ['unit', `postcode ${pc.unit}`],
      ['sector', `postcode sector ${pc.sector}`],
      ['outcode', `outcode ${pc.outcode}`]
    ]
    for (const [kind, label] of levels) {
      const councils = rows.filter((r) => r.kind === kind).map((r) => r.council_gss)
      if (councils.length === 1) return { kind: 'found', councilGss: councils[0] as string, reason: `${label} → ${describe(councils[0] as string)}` }
      if (councils.length > 1) {
        ambiguous = { kind: 'ambiguous', candidates: councils, reason: `${label} is shared by ${councils.map(describe).join(' and ')}` }
        break
      }
    }
  }
  if (where.lat !== null && where.lng !== null) {
    const near = await nearestUnit(db, where.lat, where.lng)
    if (near) {
      const prefix = ambiguous ? `${ambiguous.reason}; ` : ''
      return {
        kind: 'found',
        councilGss: near.council_gss,
        reason: `${prefix}coordinates ${where.lat.toFixed(5)}, ${where.lng.toFixed(5)} are ${Math.round(near.metres)} m from postcode ${near.area} → ${describe(near.council_gss)}`
      }
    }
    if (!ambiguous && !pc) return { kind: 'unknown', reason: `no known postcode within ${MAX_NEAREST_METRES / 1000} km of coordinates ${where.lat.toFixed(5)}, ${where.lng.toFixed(5)}` }
  }
  if (ambiguous) return ambiguous
  if (pc) return { kind: 'unknown', reason: `no coverage data for postcode ${pc.unit ?? pc.outcode}` }
  return { kind: 'unknown', reason: 'no postcode or coordinates given' }
}

/**
 * The coverage rows of a formatted postcode ("LE10 0AA"): its unit, sector and outcode, as
 * route-case reads them with a case. For a caller that must place a contact before it is a case.
 */
export async function coverageOf(db: Queryable, postcode: string): Promise<CoverageRow[]> {
  const { rows } = await db.query<CoverageRow>(
    `select kind, council_gss from coverage
      where (kind = 'unit' and strpos($1, ' ') > 0 and area = $1)
         or (kind = 'sector' and strpos($1, ' ') > 0 and area = left($1, strpos($1, ' ') + 1))
         or (kind = 'outcode' and area = split_part($1, ' ', 1))
      order by council_gss`,
    [postcode]
  )
  return rows
}

async function nearestUnit(db: Queryable, lat: number, lng: number) {
  // A bounding box (about 2 km each way) on the (lat, lng) index, then exact distance.
  const dLat = MAX_NEAREST_METRES / 111_000
  const dLng = dLat / Math.max(Math.cos((lat * Math.PI) / 180), 0.1)
  const { rows } = await db.query<{ area: string; council_gss: string; lat: number; lng: number }>(
    `with p as (select $1::float8 as lat, $2::float8 as lng, $3::float8 as dlat, $4::float8 as dlng)
     select c.area, c.council_gss, c.lat, c.lng from coverage c, p
      where c.kind = 'unit' and c.lat between p.lat - p.dlat and p.lat + p.dlat
        and c.lng between p.lng - p.dlng and p.lng + p.dlng
      order by (c.lat - p.lat) ^ 2 + ((c.lng - p.lng) * cos(radians(p.lat))) ^ 2
      limit 1`,
    [lat, lng, dLat, dLng]
  )
  const row = rows[0]
  if (!row) return null
  const metres = haversineMetres(lat, lng, row.lat, row.lng)
  return metres <= MAX_NEAREST_METRES ? { ...row, metres } : null
}

export function haversineMetres(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const r = 6_371_000
  const rad = Math.PI / 180
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lng2 - lng1) * rad) / 2) ** 2
  return 2 * r * Math.asin(Math.sqrt(a))
}
