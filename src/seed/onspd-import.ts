import { parse } from 'csv-parse'
import type { Readable } from 'node:stream'
import type { Db } from '../db/pool.js'
import { parsePostcode } from '../lib/postcode.js'

export interface ImportResult {
  /** unit postcodes written to coverage */
  units: number
  /** rows skipped because the postcode is terminated (doterm set) */
  terminated: number
  /** rows whose council is not one of this deployment's councils */
  outsideDeployment: number
  /** rows without a usable postcode */
  invalid: number
  /** sectors and outcodes derived from the units */
  sectors: number
  outcodes: number
}

const BATCH = 5_000
// ONSPD marks a postcode without a grid reference with this latitude
const NO_LOCATION_LAT = 99.999999

/**
 * Loads a file in the ONS Postcode Directory's CSV layout (columns pcds, oslaua, oscty, lat,
 * long, doterm; others ignored) into coverage. Rows stream through in batches of 5,000, so
 * the 2.7-million-row directory loads in constant memory; the only state kept is the set of
 * councils seen per sector and per outcode (about 12,000 sectors in the UK), written at the end.
 */
export async function importOnspd(pool: Db, input: Readable, source = 'onspd'): Promise<ImportResult> {
  const known = new Set(
    (await pool.query<{ gss: string }>('select gss from councils')).rows.map((r) => r.gss)
  )
  const result: ImportResult = { units: 0, terminated: 0, outsideDeployment: 0, invalid: 0, sectors: 0, outcodes: 0 }
  const sectors = new Map<string, Set<string>>()
  const outcodes = new Map<string, Set<string>>()
  let batch: { area: string; council: string; lat: number | null; lng: number | null }[] = []
  let terminated: string[] = []

  const parser = input.pipe(parse({ columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), bom: true, trim: true, relax_column_count: true }))
  for await (const row of parser as AsyncIterable<Record<string, string | undefined>>) {
    if (row.doterm) {
      // a postcode that has been withdrawn no longer places anything
      result.terminated++
      const unit = parsePostcode(row.pcds ?? '')?.unit
      if (unit) terminated.push(unit)
      if (terminated.length >= BATCH) {
        await removeUnits(pool, terminated)
        terminated = []
      }
      continue
    }
    const postcode = parsePostcode(row.pcds ?? '')
    const council = row.oslaua ?? ''
    if (!postcode?.unit || !postcode.sector) {
      result.invalid++
      continue
    }
    if (!known.has(council)) {
      result.outsideDeployment++
      continue
    }
    const lat = Number.parseFloat(row.lat ?? '')
    const lng = Number.parseFloat(row.long ?? '')
    const located = Number.isFinite(lat) && Number.isFinite(lng) && lat !== NO_LOCATION_LAT
    batch.push({ area: postcode.unit, council, lat: located ? lat : null, lng: located ? lng : null })
    addTo(sectors, postcode.sector, council)
    addTo(outcodes, postcode.outcode, council)
    if (batch.length >= BATCH) {
      result.units += await writeUnits(pool, batch, source)
      batch = []
    }
  }
  if (batch.length) result.units += await writeUnits(pool, batch, source)
  if (terminated.length) await removeUnits(pool, terminated)
  result.sectors = await writeAreas(pool, 'sector', sectors, source)
  result.outcodes = await writeAreas(pool, 'outcode', outcodes, source)
  return result
}

function addTo(map: Map<string, Set<string>>, key: string, council: string): void {
  const set = map.get(key)
  if (set) set.add(council)
  else map.set(key, new Set([council]))
}

async function writeUnits(pool: Db, rows: { area: string; council: string; lat: number | null; lng: number | null }[], source: string): Promise<number> {
  // A later row for the same postcode wins within the batch (ON CONFLICT cannot touch a row twice).
  const unique = new Map(rows.map((r) => [r.area, r]))
  const list = [...unique.values()]
  // A unit belongs to one council: drop a stale mapping to another before writing the new one.
  // (`area = any($1)` lets Postgres find the rows by primary key instead of scanning every unit)
  await pool.query(
    `delete from coverage c using unnest($1::text[], $2::text[]) as u(area, council)
      where c.kind = 'unit' and c.area = any($1::text[]) and c.area = u.area and c.council_gss <> u.council`,
    [list.map((r) => r.area), list.map((r) => r.council)]
  )
  await pool.query(
    `insert into coverage (kind, area, council_gss, lat, lng, source)
     select 'unit', u.area, u.council, u.lat, u.lng, $5
       from unnest($1::text[], $2::text[], $3::float8[], $4::float8[]) as u(area, council, lat, lng)
     on conflict (kind, area, council_gss) do update
        set lat = excluded.lat, lng = excluded.lng, source = excluded.source
      where (coverage.lat, coverage.lng, coverage.source) is distinct from (excluded.lat, excluded.lng, excluded.source)`,
    [list.map((r) => r.area), list.map((r) => r.council), list.map((r) => r.lat), list.map((r) => r.lng), source]
  )
  return list.length
}

async function removeUnits(pool: Db, units: string[]): Promise<void> {
  await pool.query(`delete from coverage where kind = 'unit' and area = any($1::text[])`, [units])
}

async function writeAreas(pool: Db, kind: 'sector' | 'outcode', areas: Map<string, Set<string>>, source: string): Promise<number> {
  const keys: string[] = []
  const councils: string[] = []
  for (const [area, set] of areas) {
    for (const council of set) {
      keys.push(area)
      councils.push(council)
    }
  }
  for (let i = 0; i < keys.length; i += BATCH) {
    await pool.query(
      `insert into coverage (kind, area, council_gss, source)
       select $1, a.area, a.council, $4 from unnest($2::text[], $3::text[]) as a(area, council)
       on conflict (kind, area, council_gss) do nothing`,
      [kind, keys.slice(i, i + BATCH), councils.slice(i, i + BATCH), source]
    )
  }
  return areas.size
}
