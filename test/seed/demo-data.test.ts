import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { ensureDatabase, migrate } from '../../src/db/migrate.js'
import { createPool } from '../../src/db/pool.js'
import { projectRoot } from '../../src/lib/paths.js'
import { loadDemoData } from '../../src/seed/demo-data.js'
import { createTestContext, dropDatabase, type TestContext } from '../helpers/context.js'

let ctx: TestContext
beforeAll(async () => {
  // created, migrated and seeded once, as every process start does
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})

const TABLES = ['councils', 'partnerships', 'partnership_members', 'services', 'destinations', 'inbound_addresses', 'coverage', 'schema_migrations']

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const t of TABLES) out[t] = (await ctx.query<{ n: number }>(`select count(*)::int as n from ${t}`))[0]!.n
  return out
}

describe('the demo data', () => {
  it('has the five partnerships with their members', async () => {
    const rows = await ctx.query<{ id: string; members: string[] }>(
      `select p.id, array_agg(m.council_gss order by m.council_gss) as members
         from partnerships p left join partnership_members m on m.partnership_id = p.id
        group by p.id order by p.id`
    )
    expect(rows).toEqual([
      { id: 'brent-lewisham', members: ['E09000005', 'E09000023'] },
      { id: 'leicestershire-districts', members: ['E07000129', 'E07000132', 'E07000135'] },
      { id: 'one-connect', members: ['E10000017'] },
      { id: 'rbt-connect', members: ['E08000018'] },
      { id: 'tri-borough', members: ['E09000013', 'E09000020', 'E09000033'] }
    ])
  })

  it('has the 30 councils with their tiers, each district pointing at its county', async () => {
    const rows = await ctx.query<{ gss: string; tier: string; county_gss: string | null; county_tier: string | null }>(
      `select c.gss, c.tier, c.county_gss, k.tier as county_tier
         from councils c left join councils k on k.gss = c.county_gss order by c.gss`
    )
    expect(rows).toHaveLength(30)
    const tiers: Record<string, number> = {}
    for (const r of rows) tiers[r.tier] = (tiers[r.tier] ?? 0) + 1
    expect(tiers).toEqual({ london_borough: 8, metropolitan_borough: 2, county: 2, district: 16, unitary: 2 })
    for (const r of rows) {
      if (r.tier === 'district') expect(r.county_tier, r.gss).toBe('county')
      else expect(r.county_gss, r.gss).toBeNull()
    }
    // exactly as seeds/reference.json describes them
    const seeded = JSON.parse(await readFile(join(projectRoot, 'seeds', 'reference.json'), 'utf8')) as { councils: { gss: string; tier: string; county?: string }[] }
    expect(rows.map((r) => ({ gss: r.gss, tier: r.tier, county: r.county_gss }))).toEqual(
      seeded.councils.map((c) => ({ gss: c.gss, tier: c.tier, county: c.county ?? null })).sort((a, b) => a.gss.localeCompare(b.gss))
    )
    const byGss = new Map(rows.map((r) => [r.gss, r]))
    expect(byGss.get('E07000132')?.county_gss).toBe('E10000018') // Hinckley and Bosworth → Leicestershire
    expect(byGss.get('E07000117')?.county_gss).toBe('E10000017') // Burnley → Lancashire
  })

  it('has the 15 services, each with its keywords, and a general enquiry to fall back on', async () => {
    const rows = await ctx.query<{ code: string; tier: string; keywords: string[] }>('select code, tier, keywords from services order by code')
    expect(rows).toHaveLength(15)
    for (const r of rows) {
      expect(Array.isArray(r.keywords), r.code).toBe(true)
      if (r.code === 'general_enquiry') expect(r.keywords).toEqual([])
      else expect(r.keywords.length, r.code).toBeGreaterThan(0)
    }
    expect(rows.find((r) => r.code === 'pothole')).toMatchObject({ tier: 'upper' })
    expect(rows.find((r) => r.code === 'missed_bin')).toMatchObject({ tier: 'lower' })
    expect(rows.find((r) => r.code === 'general_enquiry')).toMatchObject({ tier: 'any' })
  })

  it('gives every council a default destination for cases no service-specific one takes', async () => {
    const rows = await ctx.query<{ gss: string; defaults: number }>(
      `select c.gss, (select count(*) from destinations d where d.council_gss = c.gss and d.service_code is null and d.active)::int as defaults
         from councils c order by c.gss`
    )
    expect(rows).toHaveLength(30)
    expect(rows.filter((r) => r.defaults !== 1)).toEqual([])
  })
})

describe('loading the demo data again', () => {
  it('changes nothing on an already seeded database', async () => {
    const before = await counts()
    const snapshot = await ctx.query('select kind, area, council_gss, lat, lng, source from coverage order by kind, area, council_gss')
    expect(await loadDemoData(ctx.infra.db)).toBe(0)
    expect(await counts()).toEqual(before)
    expect(await ctx.query('select kind, area, council_gss, lat, lng, source from coverage order by kind, area, council_gss')).toEqual(snapshot)
  })

  it("leaves a destination an operator reconfigured alone, and puts back a council's edited name", async () => {
    await ctx.query(`update destinations set email = 'highways.new@example.gov.uk' where council_gss = 'E10000018' and service_code is null`)
    await ctx.query(`update councils set name = 'Renamed by hand' where gss = 'E09000033'`)
    expect(await loadDemoData(ctx.infra.db)).toBe(1)
    expect(await ctx.query(`select email from destinations where council_gss = 'E10000018' and service_code is null`)).toEqual([
      { email: 'highways.new@example.gov.uk' }
    ])
    expect(await ctx.query(`select name from councils where gss = 'E09000033'`)).toEqual([{ name: 'Westminster City Council' }])
  })

  it('applies no migration a second time', async () => {
    const before = await counts()
    expect(await migrate(ctx.infra.db)).toEqual([])
    expect(await counts()).toEqual(before)
  })
})

describe('several processes starting at once on a new database', () => {
  it('all come up, with the database created once, migrated once and seeded once', async () => {
    // what src/main.ts does at start, as the API and workers processes of a fresh
    // deployment (or several replicas) do at the same moment
    const url = `postgres://postgres@127.0.0.1:5432/sb_test_${randomBytes(5).toString('hex')}`
    const pools = [1, 2, 3, 4].map(() => createPool({ DATABASE_URL: url, DATABASE_POOL_SIZE: 2 }))
    try {
      const starts = await Promise.allSettled(
        pools.map(async (pool) => {
          const created = await ensureDatabase(url)
          const applied = await migrate(pool)
          await loadDemoData(pool)
          return { created, applied: applied.length }
        })
      )
      const failures = starts.flatMap((s) => (s.status === 'rejected' ? [String((s.reason as Error).message)] : []))
      expect(failures).toEqual([])
      const results = starts.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
      expect(results.filter((r) => r.created)).toHaveLength(1)
      // every migration file applied exactly once, by whichever process got there first
      const files = (await readdir(join(projectRoot, 'migrations'))).filter((f) => f.endsWith('.sql'))
      expect(files.length).toBeGreaterThan(0)
      expect(results.reduce((n, r) => n + r.applied, 0)).toBe(files.length)
      const [row] = (await pools[0]!.query<{ councils: number; migrations: number; defaults: number }>(
        `select (select count(*) from councils)::int as councils, (select count(*) from schema_migrations)::int as migrations,
                (select count(*) from destinations where service_code is null)::int as defaults`
      )).rows
      expect(row).toEqual({ councils: 30, migrations: files.length, defaults: 30 })
    } finally {
      for (const pool of pools) await pool.end()
      await dropDatabase(url)
    }
  })
})
