import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { BLABY, HINCKLEY, LEICESTER, LEICESTERSHIRE, ROTHERHAM, WESTMINSTER } from '../helpers/councils.js'
import { expectError, expectSchema, get, keyFor, parseXml } from './helpers.js'

let ctx: TestContext
let westminster: string
let county: string
let hinckley: string
beforeAll(async () => {
  ctx = await createTestContext()
  westminster = await keyFor(ctx, WESTMINSTER)
  county = await keyFor(ctx, LEICESTERSHIRE, ['read'])
  hinckley = await keyFor(ctx, HINCKLEY)
})
afterAll(async () => {
  await ctx.close()
})

const PUBLIC = ['bulky_waste', 'fly_tipping', 'gritting', 'missed_bin', 'pothole', 'street_cleaning', 'street_light']
const ALL = ['adult_social_care', 'bulky_waste', 'council_tax', 'fly_tipping', 'general_enquiry', 'gritting', 'housing_benefit', 'housing_repair', 'missed_bin', 'noise', 'planning', 'pothole', 'school_admissions', 'street_cleaning', 'street_light']
// what a resident's private dealings with the council look like in a list: codes, names or keywords
const PRIVATE = /council.tax|housing|social.care|adult|noise|planning|school|general_enquiry|general enquiry|benefit|safeguarding/i

/** The service codes of a services answer, in either format (JSON checked against services.json). */
function codesOf(res: { statusCode: number; headers: Record<string, unknown>; body: string }, fmt: 'json' | 'xml'): string[] {
  expect(res.statusCode, res.body).toBe(200)
  if (fmt === 'xml') return (parseXml(res).services?.service ?? []).map((s: { service_code: string }) => s.service_code)
  const body = JSON.parse(res.body) as { service_code: string }[]
  expectSchema('services', body)
  return body.map((s) => s.service_code)
}

/** Runs `change` on the reference data and reloads the catalogue, then undoes it after `check`. */
async function withReference(change: string, undo: string, check: () => Promise<void>) {
  await ctx.query(change)
  await ctx.infra.catalogue.load()
  try {
    await check()
  } finally {
    await ctx.query(undo)
    await ctx.infra.catalogue.load()
  }
}

describe('Open311 service lists', () => {
  for (const fmt of ['json', 'xml'] as const) {
    it(`lists only public services without a key, and all of them to the council's key (${fmt})`, async () => {
      const open = await get(ctx, `/services.${fmt}`, { jurisdiction_id: WESTMINSTER })
      expect(codesOf(open, fmt)).toEqual(PUBLIC)
      // nothing of council tax, benefits, housing, care, noise, planning or schools in the raw answer
      expect(open.body).not.toMatch(PRIVATE)
      for (const code of ['council_tax', 'housing_benefit', 'housing_repair', 'adult_social_care']) expect(open.body).not.toContain(code)

      expect(codesOf(await get(ctx, `/services.${fmt}`, { jurisdiction_id: WESTMINSTER, api_key: westminster }), fmt)).toEqual(ALL)
      // a key of another council is refused, not taken as no key
      expectError(await get(ctx, `/services.${fmt}`, { jurisdiction_id: WESTMINSTER, api_key: hinckley }), 403, fmt)
    })

    it(`answers a non-public service's definition without a key as if it did not exist (${fmt})`, async () => {
      for (const code of ['council_tax', 'adult_social_care', 'noise']) {
        const res = await get(ctx, `/services/${code}.${fmt}`, { jurisdiction_id: WESTMINSTER })
        expect(expectError(res, 404, fmt)).toBe('No service has this service_code')
        expect(res.body).not.toMatch(PRIVATE)
      }
      const keyed = await get(ctx, `/services/council_tax.${fmt}`, { jurisdiction_id: WESTMINSTER, api_key: westminster })
      expect(keyed.statusCode).toBe(200)
    })

    it(`never lists a NEVER_PUBLIC service without a key, even when the catalogue marks it public (${fmt})`, async () => {
      await withReference(
        `update services set public = true where code in ('council_tax', 'adult_social_care', 'noise')`,
        `update services set public = false where code in ('council_tax', 'adult_social_care', 'noise')`,
        async () => {
          const open = await get(ctx, `/services.${fmt}`, { jurisdiction_id: WESTMINSTER })
          const codes = codesOf(open, fmt)
          // noise is not one of the four never shown: marked public, it is listed
          expect(codes).toContain('noise')
          expect(codes).not.toContain('council_tax')
          expect(codes).not.toContain('adult_social_care')
          expect(open.body).not.toMatch(/council.tax|social.care/i)
          expectError(await get(ctx, `/services/council_tax.${fmt}`, { jurisdiction_id: WESTMINSTER }), 404, fmt)
        }
      )
    })

    it(`lists the services of each council's tier (${fmt})`, async () => {
      // Leicestershire is a county: roads, lighting, gritting, care and schools; no bins
      const countyOpen = codesOf(await get(ctx, `/services.${fmt}`, { jurisdiction_id: LEICESTERSHIRE }), fmt)
      expect(countyOpen).toEqual(['gritting', 'pothole', 'street_light'])
      const countyAll = codesOf(await get(ctx, `/services.${fmt}`, { jurisdiction_id: LEICESTERSHIRE, api_key: county }), fmt)
      expect(countyAll).toEqual(['adult_social_care', 'general_enquiry', 'gritting', 'pothole', 'school_admissions', 'street_light'])
      // Hinckley and Bosworth is one of its districts: bins, streets, housing, planning; no roads
      const districtAll = codesOf(await get(ctx, `/services.${fmt}`, { jurisdiction_id: HINCKLEY, api_key: hinckley }), fmt)
      expect(districtAll).toEqual(['bulky_waste', 'council_tax', 'fly_tipping', 'general_enquiry', 'housing_benefit', 'housing_repair', 'missed_bin', 'noise', 'planning', 'street_cleaning'])
      // single-tier councils of each kind deliver everything
      for (const [gss, key] of [[LEICESTER, await keyFor(ctx, LEICESTER)], [ROTHERHAM, await keyFor(ctx, ROTHERHAM)]] as const) {
        expect(codesOf(await get(ctx, `/services.${fmt}`, { jurisdiction_id: gss, api_key: key }), fmt)).toEqual(ALL)
      }
    })

    it(`answers 404 for the definition of a service the council does not deliver, even to its key (${fmt})`, async () => {
      expectError(await get(ctx, `/services/missed_bin.${fmt}`, { jurisdiction_id: LEICESTERSHIRE }), 404, fmt)
      expectError(await get(ctx, `/services/missed_bin.${fmt}`, { jurisdiction_id: LEICESTERSHIRE, api_key: county }), 404, fmt)
      expectError(await get(ctx, `/services/pothole.${fmt}`, { jurisdiction_id: HINCKLEY, api_key: hinckley }), 404, fmt)
      expect((await get(ctx, `/services/pothole.${fmt}`, { jurisdiction_id: LEICESTERSHIRE })).statusCode).toBe(200)
    })
  }

  it('lists a service of the other tier for a council that has a back office of its own for it', async () => {
    await withReference(
      `insert into destinations (council_gss, service_code, team, kind, email) values ('E10000018', 'missed_bin', 'County waste', 'email', 'waste@county.example')`,
      `delete from destinations where council_gss = 'E10000018' and service_code = 'missed_bin'`,
      async () => {
        expect(codesOf(await get(ctx, '/services.json', { jurisdiction_id: LEICESTERSHIRE }), 'json')).toEqual(['gritting', 'missed_bin', 'pothole', 'street_light'])
        expect((await get(ctx, '/services/missed_bin.json', { jurisdiction_id: LEICESTERSHIRE })).statusCode).toBe(200)
        // Blaby, another district of the county, has none: still no roads
        expect(codesOf(await get(ctx, '/services.json', { jurisdiction_id: BLABY }), 'json')).not.toContain('pothole')
      }
    )
  })
})

describe('Open311 service metadata', () => {
  const WITH_QUESTIONS = ['bulky_waste', 'fly_tipping', 'missed_bin', 'pothole', 'street_light']

  for (const fmt of ['json', 'xml'] as const) {
    it(`says metadata only for services with questions of their own, and asks nobody for a UPRN (${fmt})`, async () => {
      const res = await get(ctx, `/services.${fmt}`, { jurisdiction_id: WESTMINSTER, api_key: westminster })
      expect(res.statusCode).toBe(200)
      const list: { service_code: string; metadata: boolean | string }[] = fmt === 'json' ? JSON.parse(res.body) : parseXml(res).services.service
      const withMetadata = list.filter((s) => s.metadata === true || s.metadata === 'true').map((s) => s.service_code)
      expect(withMetadata).toEqual(WITH_QUESTIONS)
      for (const s of list) {
        const def = await get(ctx, `/services/${s.service_code}.${fmt}`, { jurisdiction_id: WESTMINSTER, api_key: westminster })
        expect(def.statusCode).toBe(200)
        expect(def.body).not.toContain('uprn')
      }
    })

    it(`answers an empty attributes list for a service without questions (${fmt})`, async () => {
      const res = await get(ctx, `/services/street_cleaning.${fmt}`, { jurisdiction_id: HINCKLEY })
      expect(res.statusCode).toBe(200)
      if (fmt === 'json') {
        const def = JSON.parse(res.body) as { service_code: string; attributes: unknown[] }
        expectSchema('service-definition', def)
        expect(def).toEqual({ service_code: 'street_cleaning', attributes: [] })
      } else {
        const doc = parseXml(res)
        expect(doc.service_definition.service_code).toBe('street_cleaning')
        expect(doc.service_definition.attributes?.attribute ?? []).toEqual([])
        expect(res.body).toContain('<attributes></attributes>')
      }
    })
  }

  it("leads a service's keywords with its LGSL code when it has one", async () => {
    const before = await ctx.query<{ code: string; lgsl: number | null }>(`select code, lgsl from services where code in ('pothole', 'street_light')`)
    const lgslOf = (code: string) => before.find((r) => r.code === code)!.lgsl ?? 'null'
    await withReference(
      `update services set lgsl = case code when 'pothole' then 561 else null end where code in ('pothole', 'street_light')`,
      `update services set lgsl = case code when 'pothole' then ${lgslOf('pothole')} else ${lgslOf('street_light')} end where code in ('pothole', 'street_light')`,
      async () => {
        const list = JSON.parse((await get(ctx, '/services.json', { jurisdiction_id: LEICESTERSHIRE })).body) as { service_code: string; keywords: string }[]
        expectSchema('services', list)
        expect(list.find((s) => s.service_code === 'pothole')!.keywords).toBe('lgsl:561,pothole,road surface,pavement,crack')
        expect(list.find((s) => s.service_code === 'street_light')!.keywords).toBe('street light,streetlight,lamp post,light out')
        const doc = parseXml(await get(ctx, '/services.xml', { jurisdiction_id: LEICESTERSHIRE }))
        expect(doc.services.service.find((s: { service_code: string }) => s.service_code === 'pothole').keywords).toMatch(/^lgsl:561,/)
      }
    )
  })

  it('shows the LGSL keyword and the keyless rule in the OpenAPI description', async () => {
    const doc = JSON.parse((await ctx.app.inject({ method: 'GET', url: '/docs/json' })).body) as { paths: Record<string, Record<string, { description?: string }>> }
    const description = doc.paths['/open311/v2/services.json']!.get!.description ?? ''
    expect(description).toContain('lgsl:')
    expect(description).toContain('Without a key')
  })
})
