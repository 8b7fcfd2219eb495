import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importOnspd } from '../../src/seed/onspd-import.js'
import { createTestContext, eventsOf, postContact, waitPlaced, type TestContext } from '../helpers/context.js'
import { exitOf, spawnTs } from '../helpers/processes.js'
import { BLABY, HINCKLEY, LEICESTERSHIRE, WESTMINSTER } from '../helpers/councils.js'

let ctx: TestContext
let dir: string
beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  dir = await mkdtemp(join(tmpdir(), 'sb-onspd-'))
})
afterAll(async () => {
  await ctx?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const CORNWALL = 'E06000052'

// The real directory's layout: more columns than the importer reads, in its own order,
// strings quoted, pcd/pcd2 in their fixed-width forms.
const HEADER = 'pcd,pcd2,pcds,dointr,doterm,oscty,ced,oslaua,osward,lat,long'

interface Unit {
  pcds: string
  council: string
  county?: string
  lat?: number | string
  lng?: number | string
  doterm?: string
}

function line(u: Unit): string {
  const [out = '', inw = ''] = u.pcds.split(' ')
  const pcd = out.padEnd(4, ' ') + inw
  const pcd2 = out.padEnd(5, ' ') + inw
  const lat = u.lat ?? 52.5
  const lng = u.lng ?? -1.3
  return `"${pcd}","${pcd2}","${u.pcds}","199001","${u.doterm ?? ''}","${u.county ?? 'E99999999'}","E99999999","${u.council}","E05000001",${lat},${lng}`
}

function csv(units: Unit[]): string {
  return [HEADER, ...units.map(line)].join('\n') + '\n'
}

const stream = (units: Unit[]) => Readable.from([csv(units)])

async function coverageOf(area: string, kind = 'unit') {
  return ctx.query<{ council_gss: string; lat: number | null; lng: number | null; source: string }>(
    'select council_gss, lat, lng, source from coverage where kind = $1 and area = $2 order by council_gss',
    [kind, area]
  )
}

async function coverageRows(): Promise<number> {
  return (await ctx.query<{ n: number }>('select count(*)::int as n from coverage'))[0]!.n
}

describe('importing an ONS Postcode Directory file', () => {
  const file: Unit[] = [
    { pcds: 'LE10 3AB', council: HINCKLEY, county: LEICESTERSHIRE, lat: 52.541, lng: -1.372 },
    { pcds: 'LE10 3AD', council: HINCKLEY, county: LEICESTERSHIRE, lat: 52.542, lng: -1.373 },
    { pcds: 'LE9 7AB', council: BLABY, county: LEICESTERSHIRE, lat: 52.571, lng: -1.25 },
    { pcds: 'LE9 7AD', council: HINCKLEY, county: LEICESTERSHIRE, lat: 52.572, lng: -1.26 },
    { pcds: 'SW1A 0AA', council: WESTMINSTER, lat: 51.4998, lng: -0.1247 },
    // terminated: gone from the Royal Mail's list
    { pcds: 'LE10 3AE', council: HINCKLEY, county: LEICESTERSHIRE, doterm: '201206' },
    // a real postcode, but Cornwall is not one of this deployment's councils
    { pcds: 'TR1 1AA', council: CORNWALL, lat: 50.26, lng: -5.05 },
    // ONSPD's marker for a postcode with no grid reference
    { pcds: 'LE10 3AF', council: HINCKLEY, county: LEICESTERSHIRE, lat: '99.999999', lng: '0.000000' },
    // not a postcode at all
    { pcds: 'NOT A PC', council: HINCKLEY }
  ]

  it('loads live units of known councils with their position, and counts what it skipped', async () => {
    const result = await importOnspd(ctx.infra.db, stream(file))
    expect(result).toEqual({ units: 6, terminated: 1, outsideDeployment: 1, invalid: 1, sectors: 3, outcodes: 3 })

    expect(await coverageOf('LE10 3AB')).toEqual([{ council_gss: HINCKLEY, lat: 52.541, lng: -1.372, source: 'onspd' }])
    expect(await coverageOf('SW1A 0AA')).toEqual([{ council_gss: WESTMINSTER, lat: 51.4998, lng: -0.1247, source: 'onspd' }])
    expect(await coverageOf('LE9 7AB')).toEqual([{ council_gss: BLABY, lat: 52.571, lng: -1.25, source: 'onspd' }])
    // loaded, but with no position rather than a point in the Arctic
    expect(await coverageOf('LE10 3AF')).toEqual([{ council_gss: HINCKLEY, lat: null, lng: null, source: 'onspd' }])
    expect(await coverageOf('LE10 3AE')).toEqual([])
    expect(await ctx.query(`select 1 from coverage where area like 'TR1%'`)).toEqual([])
  })

  it('derives sectors and outcodes, mapping a sector shared by two councils to both', async () => {
    expect((await coverageOf('LE9 7', 'sector')).map((r) => r.council_gss)).toEqual([BLABY, HINCKLEY])
    expect((await coverageOf('LE10 3', 'sector')).map((r) => r.council_gss)).toEqual([HINCKLEY])
    expect((await coverageOf('SW1A 0', 'sector')).map((r) => r.council_gss)).toEqual([WESTMINSTER])
    expect((await coverageOf('LE10', 'outcode')).map((r) => r.council_gss)).toEqual([HINCKLEY])
    // the demo already had LE9 shared by both; the file agrees
    expect((await coverageOf('LE9', 'outcode')).map((r) => r.council_gss)).toEqual([BLABY, HINCKLEY])
  })

  it('changes nothing when the same file is imported again', async () => {
    const snapshot = () => ctx.query('select kind, area, council_gss, lat, lng, source from coverage order by kind, area, council_gss')
    const before = await snapshot()
    const rows = await coverageRows()
    const result = await importOnspd(ctx.infra.db, stream(file))
    expect(result).toMatchObject({ units: 6, terminated: 1, outsideDeployment: 1 })
    expect(await coverageRows()).toBe(rows)
    expect(await snapshot()).toEqual(before)
  })

  it('moves a unit that a later file gives to another council, dropping the old mapping', async () => {
    const later = file.map((u) => (u.pcds === 'LE10 3AD' ? { ...u, council: BLABY } : u))
    await importOnspd(ctx.infra.db, stream(later))
    expect((await coverageOf('LE10 3AD')).map((r) => r.council_gss)).toEqual([BLABY])
    expect((await coverageOf('LE10 3AB')).map((r) => r.council_gss)).toEqual([HINCKLEY])
  })

  it('forgets a unit that a later file marks as terminated', async () => {
    await importOnspd(ctx.infra.db, stream([{ pcds: 'LE10 3ZZ', council: HINCKLEY }]))
    expect(await coverageOf('LE10 3ZZ')).toHaveLength(1)
    const result = await importOnspd(ctx.infra.db, stream([{ pcds: 'LE10 3ZZ', council: HINCKLEY, doterm: '202405' }]))
    expect(result).toMatchObject({ units: 0, terminated: 1 })
    expect(await coverageOf('LE10 3ZZ')).toEqual([])
  })

  it('streams a 200,000-row file through in batches', async () => {
    const unitsBefore = (await ctx.query<{ n: number }>(`select count(*)::int as n from coverage where kind = 'unit'`))[0]!.n
    const LETTERS = 'ABDEFGHJLNPQRSTUWXYZ' // the letters an inward code may use
    const COUNCILS = [HINCKLEY, BLABY, WESTMINSTER]
    const TOTAL = 200_000
    let terminated = 0
    let outside = 0
    // generated lazily, a chunk at a time: the file never exists in memory as a whole
    function* rows(): Generator<string> {
      yield HEADER + '\n'
      let chunk: string[] = []
      for (let i = 0; i < TOTAL; i++) {
        // 4,000 units per outcode ZA1..ZA50: digit + two letters
        const outcode = `ZA${Math.floor(i / 4000) + 1}`
        const r = i % 4000
        const pcds = `${outcode} ${Math.floor(r / 400)}${LETTERS[Math.floor(r / 20) % 20]}${LETTERS[r % 20]}`
        let council = COUNCILS[i % 3]!
        let doterm = ''
        if (i % 97 === 0) {
          doterm = '201001'
          terminated++
        } else if (i % 101 === 0) {
          council = CORNWALL
          outside++
        }
        chunk.push(line({ pcds, council, doterm, lat: 51 + (i % 1000) / 1000, lng: -1 - (i % 500) / 1000 }))
        if (chunk.length === 1000) {
          yield chunk.join('\n') + '\n'
          chunk = []
        }
      }
      if (chunk.length) yield chunk.join('\n') + '\n'
    }
    const result = await importOnspd(ctx.infra.db, Readable.from(rows()))
    const loaded = TOTAL - terminated - outside
    expect(result).toMatchObject({ units: loaded, terminated, outsideDeployment: outside, invalid: 0, outcodes: 50, sectors: 500 })
    const unitsAfter = (await ctx.query<{ n: number }>(`select count(*)::int as n from coverage where kind = 'unit'`))[0]!.n
    expect(unitsAfter - unitsBefore).toBe(loaded)
    expect((await coverageOf('ZA1 0AB')).map((r) => r.council_gss)).toEqual([BLABY])
    // about 10-15 s on a quiet 2-core machine; the margin is for a busy one
  }, 90_000)
})

describe('routing with imported unit postcodes', () => {
  async function report(postcode: string) {
    const res = await postContact(ctx, { email: `r.${Math.random().toString(36).slice(2)}@example.com`, postcode, service_code: 'missed_bin' })
    expect(res.statusCode, res.body).toBe(202)
    const { reference } = res.json() as { reference: string }
    return { reference, row: await waitPlaced(ctx, reference) }
  }

  it('places a missed bin in the split LE9 outcode by its unit once the directory has it', async () => {
    // before: LE9 is shared by Hinckley and Blaby and nothing narrower is known
    const before = await report('LE9 4XY')
    expect(before.row.status).toBe('triage')
    expect([...before.row.triage_candidates].sort()).toEqual([BLABY, HINCKLEY])

    await importOnspd(
      ctx.infra.db,
      stream([
        { pcds: 'LE9 4XY', council: BLABY, county: LEICESTERSHIRE, lat: 52.58, lng: -1.21 },
        { pcds: 'LE9 4XZ', council: HINCKLEY, county: LEICESTERSHIRE, lat: 52.57, lng: -1.27 }
      ])
    )

    const blaby = await report('LE9 4XY')
    expect(['routed', 'with_back_office']).toContain(blaby.row.status)
    expect(blaby.row.council_gss).toBe(BLABY)
    const routed = (await eventsOf(ctx, blaby.reference)).find((e) => e.type === 'case.routed')
    expect(routed?.reason).toContain('postcode LE9 4XY → Blaby District Council')

    const hinckley = await report('le9 4xz')
    expect(hinckley.row.council_gss).toBe(HINCKLEY)

    // the sector LE9 4 is itself split, so a unit the directory lacks still needs a person
    const unknownUnit = await report('LE9 4AA')
    expect(unknownUnit.row.status).toBe('triage')
  })
})

describe('the import:onspd command', () => {
  it('imports a file and prints a JSON summary', async () => {
    const path = join(dir, 'ONSPD_SAMPLE.csv')
    // as the ONS publishes it: a byte-order mark and CRLF line ends
    await writeFile(
      path,
      '\ufeff' +
        csv([
          { pcds: 'CV13 6AA', council: HINCKLEY, county: LEICESTERSHIRE, lat: 52.6, lng: -1.4 },
          { pcds: 'CV13 6AB', council: HINCKLEY, county: LEICESTERSHIRE, lat: 52.61, lng: -1.41 },
          { pcds: 'CV13 6AD', council: HINCKLEY, county: LEICESTERSHIRE, doterm: '200301' }
        ]).replaceAll('\n', '\r\n')
    )
    const cli = spawnTs('src/cli/import-onspd.ts', [path], { DATABASE_URL: ctx.config.DATABASE_URL })
    const exit = await exitOf(cli, 30_000)
    expect(exit.code, cli.output()).toBe(0)
    const lines = cli.stdout().trim().split('\n')
    const summary = JSON.parse(lines[lines.length - 1]!) as Record<string, number>
    expect(summary).toMatchObject({ units: 2, terminated: 1, outsideDeployment: 0, invalid: 0, sectors: 1, outcodes: 1 })
    expect(typeof summary.seconds).toBe('number')
    expect(await coverageOf('CV13 6AB')).toEqual([{ council_gss: HINCKLEY, lat: 52.61, lng: -1.41, source: 'onspd' }])
  })

  it('exits 1 with one line naming a file that does not exist', async () => {
    const path = join(dir, 'no-such-file.csv')
    const cli = spawnTs('src/cli/import-onspd.ts', [path], { DATABASE_URL: ctx.config.DATABASE_URL })
    const exit = await exitOf(cli, 30_000)
    expect(exit.code, cli.output()).toBe(1)
    expect(cli.stdout()).toBe('')
    const message = cli.stderr().trim()
    expect(message.split('\n')).toHaveLength(1)
    expect(message).toBe(`import:onspd: cannot read ${path}`)
  })
})
