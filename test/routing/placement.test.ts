import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { intakeContact } from '../../src/intake/intake.js'
import { routeCase } from '../../src/routing/route-case.js'
import { caseRow, createTestContext, eventsOf, postContact, waitFor, waitPlaced, type TestContext } from '../helpers/context.js'
import { inbound } from '../helpers/pipeline.js'
import { GREENWICH, HINCKLEY, LEICESTERSHIRE, LEWISHAM, WESTMINSTER } from '../helpers/councils.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

/** Routed, or already handed on to the back office by the delivery worker. */
function expectRouted(row: { status: string } | undefined) {
  expect(['routed', 'with_back_office']).toContain(row?.status)
}

async function report(body: Record<string, unknown>) {
  const res = await postContact(ctx, { name: 'Sam Resident', email: `sam.${Math.random().toString(36).slice(2)}@example.com`, ...body })
  expect(res.statusCode, res.body).toBe(202)
  const { reference } = res.json() as { reference: string }
  return waitPlaced(ctx, reference).then((row) => ({ reference, row }))
}

describe('placing a case with the right council', () => {
  it('sends a pothole at a Hinckley (LE10) postcode to Leicestershire County Council, saying why', async () => {
    const { reference, row } = await report({ postcode: 'LE10 0FR', description: 'A deep pothole on the road outside number 12' })
    expectRouted(row)
    expect(row).toMatchObject({ council_gss: LEICESTERSHIRE, service_code: 'pothole', team: 'Highways' })
    const routed = (await eventsOf(ctx, reference)).find((e) => e.type === 'case.routed')
    expect(routed?.reason).toContain('outcode LE10 → Hinckley and Bosworth Borough Council (E07000132, district)')
    expect(routed?.reason).toContain('pothole is a county (upper-tier) service → Leicestershire County Council (E10000018')
  })

  it('sends a missed bin at the same postcode to Hinckley and Bosworth', async () => {
    const { row } = await report({ postcode: 'LE10 0FR', description: 'My wheelie bin was not emptied this week' })
    expectRouted(row)
    expect(row).toMatchObject({ council_gss: HINCKLEY, service_code: 'missed_bin', team: 'Waste and street scene' })
  })

  it('puts a missed bin in an outcode shared by two councils, with no unit data, in triage naming both', async () => {
    const { reference, row } = await report({ postcode: 'SE12 8AA', service_code: 'missed_bin', description: 'Bin not collected' })
    expect(row?.status).toBe('triage')
    expect([...(row?.triage_candidates ?? [])].sort()).toEqual([GREENWICH, LEWISHAM])
    expect(row?.partnership_id).toBe('brent-lewisham')
    const triaged = (await eventsOf(ctx, reference)).find((e) => e.type === 'case.triaged')
    expect(triaged?.reason).toContain('outcode SE12 is shared by')
    expect(triaged?.reason).toContain('London Borough of Lewisham')
    expect(triaged?.reason).toContain('Royal Borough of Greenwich')
  })

  it('sends a council-tax question in Westminster to Westminster', async () => {
    const { row } = await report({ postcode: 'SW1A 1AA', description: 'I have a question about my council tax bill' })
    expectRouted(row)
    expect(row).toMatchObject({ council_gss: WESTMINSTER, service_code: 'council_tax', team: 'Revenues and benefits' })
  })

  it('sends a council-tax question to the council the resident names, without a location', async () => {
    const { row } = await report({ council: WESTMINSTER, service_code: 'council_tax', description: 'Single person discount' })
    expectRouted(row)
    expect(row).toMatchObject({ council_gss: WESTMINSTER })
  })

  it('uses the unit postcode when the outcode is split (LE9 6PW is Hinckley and Bosworth, not Blaby)', async () => {
    const { row } = await report({ postcode: 'le96pw', service_code: 'missed_bin' })
    expectRouted(row)
    expect(row).toMatchObject({ council_gss: HINCKLEY })
  })

  it('places a pothole in an outcode split between two districts of one county with that county', async () => {
    const { reference, row } = await report({ postcode: 'LE9', description: 'pothole' })
    expectRouted(row)
    expect(row).toMatchObject({ council_gss: LEICESTERSHIRE })
    const routed = (await eventsOf(ctx, reference)).find((e) => e.type === 'case.routed')
    expect(routed?.reason).toContain('they all lie in Leicestershire County Council')
  })

  it('places coordinates by the nearest unit postcode', async () => {
    const { reference, row } = await report({ lat: 51.5012, long: -0.1412, description: 'Street light out' })
    expectRouted(row)
    expect(row).toMatchObject({ council_gss: WESTMINSTER, service_code: 'street_light' })
    const routed = (await eventsOf(ctx, reference)).find((e) => e.type === 'case.routed')
    expect(routed?.reason).toMatch(/m from postcode SW1A 1AA/)
  })

  it('puts a pothole with no location in triage', async () => {
    const { reference, row } = await report({ description: 'There is a pothole somewhere on my road' })
    expect(row?.status).toBe('triage')
    const triaged = (await eventsOf(ctx, reference)).find((e) => e.type === 'case.triaged')
    expect(triaged?.reason).toContain('pothole needs a location')
  })

  it('puts a well-formed postcode nobody here covers in triage', async () => {
    const { row } = await report({ postcode: 'EH1 1YZ', service_code: 'missed_bin' })
    expect(row?.status).toBe('triage')
  })

  it('falls back to a general enquiry when no keyword matches, and says so', async () => {
    const { reference, row } = await report({ postcode: 'SW1A 2AA', description: 'Who do I speak to about a wedding venue licence?' })
    expectRouted(row)
    expect(row).toMatchObject({ service_code: 'general_enquiry', council_gss: WESTMINSTER, team: 'Customer services' })
    const chosen = (await eventsOf(ctx, reference)).find((e) => e.type === 'case.service_chosen')
    expect(chosen?.reason).toContain('no service keyword')
  })

  it('routes a text to a number dedicated to one council to that council', async () => {
    const result = await intakeContact(
      ctx.infra.db,
      inbound({
        channel: 'sms',
        provider: 'twilio',
        providerMessageId: `SM${Date.now()}`,
        rawPayload: { Body: 'Council tax question' },
        sender: { name: null, email: null, phone: '+447700900999', raw: '+447700900999' },
        recipient: '+447700900101',
        text: 'When is my council tax due?'
      })
    )
    const row = await waitPlaced(ctx, result.reference)
    expectRouted(row)
    expect(row).toMatchObject({ council_gss: WESTMINSTER, service_code: 'council_tax' })
  })

  it('sets the SLA due time from the destination configuration', async () => {
    const { row } = await report({ postcode: 'LE10 0FR', service_code: 'missed_bin' })
    const hours = (row!.sla_due_at!.getTime() - row!.created_at.getTime()) / 3_600_000
    expect(hours).toBe(48)
  })

  it('does nothing when an already-routed case is routed again', async () => {
    const { reference } = await report({ postcode: 'LE10 0FR', service_code: 'pothole' })
    // let the delivery worker finish first: its event lands after the case is placed
    const row = await waitFor(async () => {
      const r = await caseRow(ctx, reference)
      return r?.status === 'with_back_office' ? r : null
    }, 10_000, 'the routed case to be delivered')
    const before = await eventsOf(ctx, reference)
    expect(before.map((e) => e.type)).toContain('delivery.succeeded')
    const [outbox] = await ctx.query<{ id: number }>(`insert into outbox (topic, payload) values ('case:route', '{}') returning id`)
    const outcome = await routeCase({ db: ctx.infra.db, catalogue: ctx.infra.catalogue, queues: ctx.infra.queues, log: ctx.infra.log }, { caseId: row!.id, outboxId: outbox!.id })
    expect(outcome).toBe('already_placed')
    expect(await eventsOf(ctx, reference)).toHaveLength(before.length)
    expect(await ctx.query('select 1 from deliveries d join cases c on c.id = d.case_id where c.reference = $1', [reference])).toHaveLength(1)
  })
  it('places a case once when several workers route it at the same moment', async () => {
    // a duplicate job (after a Redis flush, or a sweep racing the fast path) meeting the first
    const result = await intakeContact(
      ctx.infra.db,
      inbound({
        providerMessageId: `auto:race-${Date.now()}`,
        sender: { name: null, email: `race.${Date.now()}@example.com`, phone: null, raw: null },
        text: 'My bin was missed',
        location: { postcode: 'LE10 0FR', lat: null, lng: null }
      })
    )
    const deps = { db: ctx.infra.db, catalogue: ctx.infra.catalogue, queues: ctx.infra.queues, log: ctx.infra.log }
    const job = { caseId: result.caseId, outboxId: result.outbox!.id }
    const outcomes = await Promise.all([routeCase(deps, job), routeCase(deps, job), routeCase(deps, job)])
    // the outbox row was not relayed, so only a sweep a second from now could join in
    expect(outcomes.filter((o) => o === 'routed')).toHaveLength(1)
    expect(outcomes.filter((o) => o === 'already_placed')).toHaveLength(2)
    const events = await eventsOf(ctx, result.reference)
    expect(events.filter((e) => e.type === 'case.routed')).toHaveLength(1)
    expect(events.filter((e) => e.type === 'case.service_chosen')).toHaveLength(1)
    expect(await ctx.query('select 1 from deliveries where case_id = $1', [result.caseId])).toHaveLength(1)
    expect(await ctx.query(`select 1 from outbox where topic = 'case:deliver' and payload->>'delivery_id' in (select id::text from deliveries where case_id = $1)`, [result.caseId])).toHaveLength(1)
    expect(await ctx.query('select 1 from outbox where id = $1 and done_at is not null', [job.outboxId])).toHaveLength(1)
  })
})
