import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, eventsOf, postContact, waitPlaced, type TestContext } from '../helpers/context.js'
import { adminRequest } from '../helpers/delivery.js'
import { HAMMERSMITH, WESTMINSTER } from '../helpers/councils.js'

// No silent dead ends: a case routing can never place goes to a person with the reason;
// a case placed with a council that has nowhere to receive it is listed for operators, and
// its resident is not told the council has it.

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

const status = (reference: string, contact: string) => ctx.app.inject({ method: 'GET', url: `/v1/contacts/${reference}?contact=${encodeURIComponent(contact)}` })

describe('a case routing fails on every attempt', () => {
  it('goes to its partnership’s triage after the last attempt, with the error as the reason', async () => {
    // an operator removes the fallback service: a description with no keyword cannot be placed
    await ctx.query(`delete from services where code = 'general_enquiry'`)
    await ctx.infra.catalogue.load()
    try {
      const res = await postContact(ctx, { email: 'fallback@example.com', council: WESTMINSTER, description: 'Hello, I have a question' })
      expect(res.statusCode, res.body).toBe(202)
      const { reference } = res.json() as { reference: string }

      // five attempts with backoff (0.5 + 1 + 2 + 4 s), then triage
      const placed = await waitPlaced(ctx, reference, 20_000)
      expect(placed).toMatchObject({ status: 'triage', partnership_id: 'tri-borough' })
      const triaged = (await eventsOf(ctx, reference)).filter((e) => e.type === 'case.triaged')
      expect(triaged).toHaveLength(1)
      expect(triaged[0]!.reason).toMatch(/routing failed on all 5 attempts/)
      expect(triaged[0]!.reason).toContain('general_enquiry')
      // its job is done: the outbox will not bring it back
      expect(await ctx.query(`select 1 from outbox where topic = 'case:route' and done_at is null and payload->>'case_id' = $1`, [String(placed.id)])).toHaveLength(0)
      // supervisors see it with the reason, and the resident sees a person is on it
      const triage = await adminRequest(ctx, 'GET', '/v1/admin/triage?partnership=tri-borough')
      expect((triage.json() as { reference: string; reason: string }[]).find((t) => t.reference === reference)?.reason).toMatch(/routing failed/)
      expect((await status(reference, 'fallback@example.com')).json().stage).toBe('in_triage')
    } finally {
      await ctx.query(`insert into services (code, name, tier) values ('general_enquiry', 'General enquiry', 'any') on conflict do nothing`)
      await ctx.infra.catalogue.load()
    }
  }, 40_000)
})

describe('a case placed with a council that has nowhere to receive it', () => {
  it('is listed for operators, and the resident is not told the council has it', async () => {
    await ctx.query('update destinations set active = false where council_gss = $1', [HAMMERSMITH])
    await ctx.infra.catalogue.load()
    const res = await postContact(ctx, { email: 'nowhere@example.com', council: HAMMERSMITH, service_code: 'council_tax' })
    const { reference } = res.json() as { reference: string }
    const placed = await waitPlaced(ctx, reference)
    expect(placed).toMatchObject({ status: 'routed', council_gss: HAMMERSMITH, team: null })
    expect((await eventsOf(ctx, reference)).find((e) => e.type === 'case.routed')?.reason).toMatch(/no back-office destination configured/)

    const listed = await adminRequest(ctx, 'GET', '/v1/admin/cases-without-destination')
    expect(listed.statusCode).toBe(200)
    expect(listed.json()).toEqual(expect.arrayContaining([expect.objectContaining({ reference, council_gss: HAMMERSMITH, service_code: 'council_tax' })]))

    const seen = (await status(reference, 'nowhere@example.com')).json() as { stage: string; stage_description: string }
    expect(seen.stage).toBe('routed')
    expect(seen.stage_description).not.toMatch(/has your report|passed to/)
    expect(seen.stage_description).toMatch(/member of staff will pass it on/)
    // and nothing claims to deliver it
    expect(await ctx.query('select 1 from deliveries d join cases c on c.id = d.case_id where c.reference = $1', [reference])).toHaveLength(0)
  })
})
