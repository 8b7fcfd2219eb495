import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse } from 'csv-parse/sync'
import type { Db } from '../db/pool.js'
import { withTransaction } from '../db/pool.js'
import { projectRoot } from '../lib/paths.js'
import { loadBankHolidays } from '../sla/bank-holidays.js'
import { importOnspd } from './onspd-import.js'

const SEEDS = join(projectRoot, 'seeds')

interface ReferenceData {
  councils: { gss: string; name: string; short: string; tier: string; county?: string }[]
  partnerships: { id: string; name: string; operator?: string | null; host?: string | null; source?: string | null; members: string[] }[]
  /** lgsl: the service's Local Government Service List code (standards.esd.org.uk); null where the list has none that fits */
  services: { code: string; name: string; tier: string; keywords: string[]; needs_location: boolean; public?: boolean; location_kind?: 'street' | 'property'; lgsl?: number | null }[]
  destinations: { council: string; service: string | null; team: string; email: string; sla_hours?: number }[]
  inbound_addresses: { channel: string; address: string; council?: string; partnership?: string }[]
  /** contact-centre teams; without a council, a team serves all its partnership's councils */
  teams: { partnership: string; name: string; council?: string; auto_assign: boolean }[]
}

/**
 * Loads the demo councils, partnerships, contact-centre teams, services, coverage,
 * destinations, inbound addresses, SLA targets and bank holidays from seeds/. Idempotent: every write is an upsert that
 * touches a row only when its values differ, so a second run changes nothing. Returns the
 * number of rows changed.
 */
export async function loadDemoData(pool: Db): Promise<number> {
  const ref = JSON.parse(await readFile(join(SEEDS, 'reference.json'), 'utf8')) as ReferenceData
  const outcodes = parse(await readFile(join(SEEDS, 'outcodes.csv'), 'utf8'), { columns: true, trim: true }) as { outcode: string; council_gss: string }[]

  let changed = await withTransaction(pool, async (db) => {
    let n = 0
    const run = async (sql: string, params: unknown[]) => {
      n += (await db.query(sql, params)).rowCount ?? 0
    }
    // counties first, so districts can point at them
    const councils = [...ref.councils].sort((a, b) => Number(Boolean(a.county)) - Number(Boolean(b.county)))
    for (const c of councils) {
      await run(
        `insert into councils (gss, name, short_name, tier, county_gss) values ($1, $2, $3, $4, $5)
         on conflict (gss) do update set name = excluded.name, short_name = excluded.short_name,
           tier = excluded.tier, county_gss = excluded.county_gss
         where (councils.name, councils.short_name, councils.tier, councils.county_gss)
           is distinct from (excluded.name, excluded.short_name, excluded.tier, excluded.county_gss)`,
        [c.gss, c.name, c.short, c.tier, c.county ?? null]
      )
    }
    for (const p of ref.partnerships) {
      await run(
        `insert into partnerships (id, name, operator, host_gss, source) values ($1, $2, $3, $4, $5)
         on conflict (id) do update set name = excluded.name, operator = excluded.operator,
           host_gss = excluded.host_gss, source = excluded.source
         where (partnerships.name, partnerships.operator, partnerships.host_gss, partnerships.source)
           is distinct from (excluded.name, excluded.operator, excluded.host_gss, excluded.source)`,
        [p.id, p.name, p.operator ?? null, p.host ?? null, p.source ?? null]
      )
      for (const gss of p.members) {
        await run(`insert into partnership_members values ($1, $2) on conflict do nothing`, [p.id, gss])
      }
    }
    // SLA defaults for every demo council: an answer within half a working day, resolved
    // within a working week (an operator's later change is kept)
    await run(
      `insert into sla_targets (council_gss, service_code, first_response_hours, resolution_hours)
       select gss, null, 4, 40 from unnest($1::text[]) as gss
       on conflict do nothing`,
      [ref.councils.map((c) => c.gss)]
    )
    n += await loadBankHolidays(db)
    for (const t of ref.teams) {
      // created once, then left alone: a supervisor may since have switched auto-assignment
      await run(
        `insert into teams (partnership_id, name, council_gss, auto_assign) values ($1, $2, $3, $4)
         on conflict (partnership_id, name) do nothing`,
        [t.partnership, t.name, t.council ?? null, t.auto_assign]
      )
    }
    for (const s of ref.services) {
      await run(
        `insert into services (code, name, tier, keywords, needs_location, public, location_kind, lgsl) values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (code) do update set name = excluded.name, tier = excluded.tier,
           keywords = excluded.keywords, needs_location = excluded.needs_location, public = excluded.public, location_kind = excluded.location_kind,
           lgsl = excluded.lgsl
         where (services.name, services.tier, services.keywords, services.needs_location, services.public, services.location_kind, services.lgsl)
           is distinct from (excluded.name, excluded.tier, excluded.keywords, excluded.needs_location, excluded.public, excluded.location_kind, excluded.lgsl)`,
        // a service that does not say where its problems are is taken to be at a home
        [s.code, s.name, s.tier, s.keywords, s.needs_location, s.public === true, s.location_kind === 'street' ? 'street' : 'property', s.lgsl ?? null]
      )
    }
    for (const d of ref.destinations) {
      const existing = await db.query<{ id: number; team: string; email: string | null; sla_hours: number | null; kind: string }>(
        `select id, team, email, sla_hours, kind from destinations
          where active and council_gss = $1 and service_code is not distinct from $2`,
        [d.council, d.service]
      )
      const row = existing.rows[0]
      if (!row) {
        await run(
          `insert into destinations (council_gss, service_code, team, kind, email, sla_hours) values ($1, $2, $3, 'email', $4, $5)`,
          [d.council, d.service, d.team, d.email, d.sla_hours ?? null]
        )
      }
      // an existing destination may have been reconfigured by an operator: leave it alone
    }
    for (const a of ref.inbound_addresses) {
      await run(
        `insert into inbound_addresses (channel, address, council_gss, partnership_id) values ($1, $2, $3, $4)
         on conflict (channel, address) do nothing`,
        [a.channel, a.address, a.council ?? null, a.partnership ?? null]
      )
    }
    await run(
      `insert into coverage (kind, area, council_gss, source)
       select 'outcode', o.area, o.council, 'demo' from unnest($1::text[], $2::text[]) as o(area, council)
       on conflict do nothing`,
      [outcodes.map((o) => o.outcode), outcodes.map((o) => o.council_gss)]
    )
    return n
  })
  // the demo unit postcodes go through the same importer a real ONSPD file does
  const before = await countCoverage(pool)
  await importOnspd(pool, createReadStream(join(SEEDS, 'postcodes.csv')), 'demo')
  changed += (await countCoverage(pool)) - before
  return changed
}

async function countCoverage(pool: Db): Promise<number> {
  return (await pool.query<{ n: number }>('select count(*)::int as n from coverage')).rows[0]?.n ?? 0
}
