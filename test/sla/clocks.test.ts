import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { intakeContact } from '../../src/intake/intake.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { routeCases, type RouteJobRef } from '../../src/routing/route-case.js'
import { checkClocks, resumeClocks, setClocks, SLA_BATCH } from '../../src/sla/clocks.js'
import { startSlaClock } from '../../workers/sla.js'
import { createTestContext, eventsOf, postContact, waitFor, waitPlaced, type TestContext } from '../helpers/context.js'
import { inbound, uid } from '../helpers/pipeline.js'
import { HAMMERSMITH, WESTMINSTER } from '../helpers/councils.js'

// The clocks on a real database. Cases are inserted already placed, with a known contact
// time, and "now" is handed to each pass, so every due time is known in advance.

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext()
})
afterAll(async () => {
  await ctx?.close()
})
beforeEach(async () => {
  // each test watches only its own cases: everyone else's clocks are stopped
  await ctx.query(`update cases set work_status = 'closed', first_response_at = coalesce(first_response_at, now())`)
})

/** A case placed with Westminster, contacted at `createdAt`. */
async function placedCase(createdAt: string, over: { service?: string; council?: string } = {}) {
  const reference = newCaseReference()
  const [row] = await ctx.query<{ id: number }>(
    `with r as (insert into residents default values returning id)
     insert into cases (reference, resident_id, channel, status, partnership_id, council_gss, service_code, created_at, routed_at)
     select $1, r.id, 'web', 'routed', 'tri-borough', $2, $3, $4, $4 from r returning id`,
    [reference, over.council ?? WESTMINSTER, over.service ?? 'council_tax', createdAt]
  )
  return { id: row!.id, reference }
}

async function clocksOf(id: number) {
  const [row] = await ctx.query<Record<string, Date | null>>(
    `select sla_clocks_at, first_response_due_at, first_response_warn_at, resolution_due_at, resolution_warn_at from cases where id = $1`,
    [id]
  )
  return row!
}

const slaEvents = async (reference: string) => (await eventsOf(ctx, reference)).filter((e) => e.type.startsWith('sla.'))
const at = (iso: string) => ({ now: new Date(iso) })

describe('setting the clocks', () => {
  it("counts the council's default targets in business hours from when the resident got in touch", async () => {
    // Friday 5 June 2026 16:00 BST; the demo default is 4 h to a first response, 40 h to resolve
    const c = await placedCase('2026-06-05T15:00:00Z')
    expect(await setClocks(ctx.infra.db)).toBeGreaterThanOrEqual(1)
    expect(await clocksOf(c.id)).toMatchObject({
      first_response_due_at: new Date('2026-06-08T11:00:00Z'), // Monday 12:00
      first_response_warn_at: new Date('2026-06-08T10:12:00Z'), // 3.2 h in: a fifth left
      resolution_due_at: new Date('2026-06-12T15:00:00Z') // the next Friday 16:00
    })
  })

  it("uses the service's own target over the council's default, and sets no clock without a target", async () => {
    await ctx.query(`insert into sla_targets (council_gss, service_code, first_response_hours, resolution_hours) values ($1, 'noise', 1, 8)`, [WESTMINSTER])
    const noise = await placedCase('2026-06-05T15:00:00Z', { service: 'noise' })
    await ctx.query('delete from sla_targets where council_gss = $1', [HAMMERSMITH])
    const untargeted = await placedCase('2026-06-05T15:00:00Z', { council: HAMMERSMITH })
    await setClocks(ctx.infra.db)
    expect(await clocksOf(noise.id)).toMatchObject({ first_response_due_at: new Date('2026-06-05T16:00:00Z'), resolution_due_at: new Date('2026-06-08T15:00:00Z') })
    const none = await clocksOf(untargeted.id)
    expect(none.sla_clocks_at).not.toBeNull()
    expect(none.first_response_due_at).toBeNull()
    await checkClocks(ctx.infra.db, at('2030-01-01T00:00:00Z'))
    expect(await slaEvents(untargeted.reference)).toEqual([])
  })
})

describe('clocks set by routing', () => {
  const deps = () => ({ db: ctx.infra.db, catalogue: ctx.infra.catalogue, queues: ctx.infra.queues, log: ctx.infra.log })
  const CLOCKS = 'first_response_due_at, first_response_warn_at, resolution_due_at, resolution_warn_at'

  /** Web contacts stored as the API stores them, with their route jobs. */
  async function stored(cases: Array<{ postcode: string; service: string }>): Promise<RouteJobRef[]> {
    const jobs: RouteJobRef[] = []
    for (const c of cases) {
      const r = await intakeContact(
        ctx.infra.db,
        inbound({ sender: { name: 'Sam Resident', email: `sam.${uid()}@example.com`, phone: null, raw: null }, serviceCode: c.service, location: { postcode: c.postcode, lat: null, lng: null } })
      )
      jobs.push({ caseId: r.caseId, outboxId: r.outbox!.id })
    }
    return jobs
  }

  const clocksOfAll = (ids: number[]) =>
    ctx.query<Record<string, Date | null>>(`select id, sla_clocks_at, ${CLOCKS} from cases where id = any($1) order by id`, [ids])

  it('sets both clocks in the statement that places a case, to the times the clock pass would set', async () => {
    // a service's own target beside Westminster's default, in the catalogue routing reads
    await ctx.query(`insert into sla_targets (council_gss, service_code, first_response_hours, resolution_hours) values ($1, 'fly_tipping', 2, 16) on conflict do nothing`, [WESTMINSTER])
    await ctx.infra.catalogue.load()
    const jobs = await stored([
      { postcode: 'SW1A 1AA', service: 'council_tax' },
      { postcode: 'SW1A 1AA', service: 'fly_tipping' },
      { postcode: 'HA9 0FJ', service: 'missed_bin' },
      { postcode: 'LE10 0FR', service: 'pothole' }
    ])
    const ids = jobs.map((j) => j.caseId)
    expect(await routeCases(deps(), jobs)).toEqual(['routed', 'routed', 'routed', 'routed'])
    const byRouting = await clocksOfAll(ids)
    for (const row of byRouting) {
      expect(row.sla_clocks_at, `case ${row.id}`).not.toBeNull()
      expect(row.first_response_due_at, `case ${row.id}`).not.toBeNull()
    }
    // the service's own target is shorter than the council's default
    const [tax, flyTipping] = byRouting
    expect(flyTipping!.resolution_due_at!.getTime()).toBeLessThan(tax!.resolution_due_at!.getTime())

    // the pass, given the same cases with no clocks, sets the very same times
    await ctx.query(`update cases set sla_clocks_at = null, ${CLOCKS.split(', ').map((c) => `${c} = null`).join(', ')} where id = any($1)`, [ids])
    await setClocks(ctx.infra.db)
    const without = (rows: Array<Record<string, Date | null>>) => rows.map(({ sla_clocks_at: _, ...times }) => times)
    expect(without(await clocksOfAll(ids))).toEqual(without(byRouting))
  })

  it("leaves the clocks to the pass while the catalogue has not loaded the council's holidays", async () => {
    const calendars = ctx.infra.catalogue.calendars
    ctx.infra.catalogue.calendars = new Map()
    try {
      const jobs = await stored([{ postcode: 'SW1A 1AA', service: 'council_tax' }])
      await routeCases(deps(), jobs)
      const [unset] = await clocksOfAll([jobs[0]!.caseId])
      expect(unset).toMatchObject({ sla_clocks_at: null, first_response_due_at: null })
      await setClocks(ctx.infra.db)
      const [set] = await clocksOfAll([jobs[0]!.caseId])
      expect(set!.sla_clocks_at).not.toBeNull()
      expect(set!.first_response_due_at).not.toBeNull()
    } finally {
      ctx.infra.catalogue.calendars = calendars
    }
  })

  it('has the clock worker set, in one pass, the clocks of more cases than one batch holds', async () => {
    const n = SLA_BATCH * 2 + 50
    await ctx.query(
      `with r as (insert into residents select from generate_series(1, $1) returning id),
            numbered as (select id, row_number() over () as i from r)
       insert into cases (reference, resident_id, channel, status, partnership_id, council_gss, service_code, created_at, routed_at)
       select 'SB-BULK-' || i || '-' || $2, id, 'web', 'routed', 'tri-borough', $3, 'council_tax', now(), now() from numbered`,
      [n, uid(), WESTMINSTER]
    )
    const unset = async () => Number((await ctx.query<{ n: string }>(`select count(*) as n from cases where sla_clocks_at is null and routed_at is not null`))[0]!.n)
    expect(await unset()).toBeGreaterThanOrEqual(n)
    const clock = startSlaClock(ctx.infra.db, { intervalMs: 60_000, log: ctx.infra.log })
    await waitFor(async () => clock.passes >= 1, 10_000, 'the first pass')
    await clock.stop()
    expect(await unset()).toBe(0)
  })
})

describe('warnings and breaches', () => {
  it('warns once when a fifth of the first-response time is left, then breaches once, escalated to supervisors', async () => {
    const c = await placedCase('2026-06-08T08:00:00Z') // Monday 09:00 BST: first response due 13:00 BST
    await setClocks(ctx.infra.db)
    expect(await checkClocks(ctx.infra.db, at('2026-06-08T11:00:00Z'))).toEqual([])
    for (let i = 0; i < 3; i++) await checkClocks(ctx.infra.db, at('2026-06-08T11:30:00Z'))
    expect(await slaEvents(c.reference)).toEqual([
      {
        type: 'sla.warning',
        actor: 'worker:sla',
        reason: 'No first response yet, with a fifth of the time allowed left: due by Monday 8 June 2026 at 13:00',
        data: { clock: 'first_response', due_at: '2026-06-08T12:00:00.000Z' }
      }
    ])
    for (let i = 0; i < 3; i++) await checkClocks(ctx.infra.db, at(`2026-06-08T12:0${i}:00Z`))
    const events = await slaEvents(c.reference)
    expect(events.map((e) => e.type)).toEqual(['sla.warning', 'sla.breached'])
    expect(events[1]).toEqual({
      type: 'sla.breached',
      actor: 'worker:sla',
      reason: 'No first response by Monday 8 June 2026 at 13:00, when it was due; escalated to supervisors',
      data: { clock: 'first_response', due_at: '2026-06-08T12:00:00.000Z', escalated_to: 'supervisor' }
    })
  })

  it('never warns or breaches a first response given in time, nor a case resolved in time', async () => {
    const c = await placedCase('2026-06-08T08:00:00Z')
    await setClocks(ctx.infra.db)
    await ctx.query(`update cases set first_response_at = '2026-06-08T10:00:00Z' where id = $1`, [c.id])
    await checkClocks(ctx.infra.db, at('2026-06-09T08:00:00Z'))
    await ctx.query(`update cases set work_status = 'resolved' where id = $1`, [c.id])
    await checkClocks(ctx.infra.db, at('2026-07-01T08:00:00Z'))
    expect(await slaEvents(c.reference)).toEqual([])
  })

  it('breaches without a warning a clock first seen past due, each clock once', async () => {
    const c = await placedCase('2026-06-01T08:00:00Z') // Monday 09:00 BST: resolution due Friday at closing
    await setClocks(ctx.infra.db)
    for (let i = 0; i < 3; i++) await checkClocks(ctx.infra.db, at('2026-07-01T08:00:00Z'))
    const events = await slaEvents(c.reference)
    expect(events.map((e) => [e.type, e.data.clock])).toEqual([
      ['sla.breached', 'first_response'],
      ['sla.breached', 'resolution']
    ])
    expect(events[1]?.reason).toBe('Not resolved by Friday 5 June 2026 at 17:00, when it was due; escalated to supervisors')
  })
})

describe('the clock worker', () => {
  it('raises sla.breached once for a case whose first-response target passed unanswered, however many passes run', async () => {
    // a case that came in a fortnight ago and was placed: both targets are long past
    const c = await placedCase(new Date(Date.now() - 14 * 86_400_000).toISOString())
    const workers = await ctx.startWorkers()
    const breaches = () => slaEvents(c.reference).then((es) => es.filter((e) => e.type === 'sla.breached'))
    await waitFor(async () => (await breaches()).length === 2, 10_000, 'both clocks to breach')
    // a second, fast clock beside the workers' own, as another worker process would be
    const fast = startSlaClock(ctx.infra.db, { intervalMs: 20, log: ctx.infra.log })
    await waitFor(async () => fast.passes >= 10, 10_000, 'ten more passes')
    await fast.stop()
    await workers.close()
    expect((await breaches()).map((e) => e.data.clock).sort()).toEqual(['first_response', 'resolution'])
  })

  it('sets the clocks of a contact routed through the pipeline, and breaches its first response once', async () => {
    const res = await postContact(ctx, { name: 'Sam Resident', email: `sam.${Date.now()}@example.com`, postcode: 'SW1A 1AA', description: 'A question about my council tax bill' })
    expect(res.statusCode, res.body).toBe(202)
    const { reference } = res.json() as { reference: string }
    const workers = await ctx.startWorkers()
    const row = await waitPlaced(ctx, reference)
    await workers.close()
    expect(row.council_gss).toBe(WESTMINSTER)
    await setClocks(ctx.infra.db)
    const [clock] = await ctx.query<{ first_response_due_at: Date }>('select first_response_due_at from cases where reference = $1', [reference])
    expect(clock!.first_response_due_at.getTime()).toBeGreaterThan(row.created_at.getTime())
    const afterDue = new Date(clock!.first_response_due_at.getTime() + 60_000)
    for (let i = 0; i < 3; i++) await checkClocks(ctx.infra.db, { now: afterDue })
    const events = await slaEvents(reference)
    expect(events.filter((e) => e.type === 'sla.breached').map((e) => e.data.clock)).toEqual(['first_response'])
  })
})

describe('waiting on the resident', () => {
  const pauseOf = async (id: number) =>
    (await ctx.query<{ resolution_paused_at: Date | null; resolution_resumed_at: Date | null; resolution_due_at: Date | null }>(
      'select resolution_paused_at, resolution_resumed_at, resolution_due_at from cases where id = $1',
      [id]
    ))[0]!
  const setStatus = (id: number, status: string) => ctx.query('update cases set work_status = $2 where id = $1', [id, status])

  it('pauses the resolution clock, and on resuming counts what was left from then, in business hours', async () => {
    // contacted Friday 5 June 2026 16:00 BST: resolution due the next Friday 16:00 (40 h)
    const c = await placedCase('2026-06-05T15:00:00Z')
    await ctx.query(`update cases set work_status = 'open', first_response_at = now() where id = $1`, [c.id])
    await setClocks(ctx.infra.db)
    expect((await clocksOf(c.id)).resolution_due_at).toEqual(new Date('2026-06-12T15:00:00Z'))

    await setStatus(c.id, 'waiting_on_resident')
    expect((await pauseOf(c.id)).resolution_paused_at).not.toBeNull()
    // paused from Monday 8 June 10:00 BST: 38 working hours were left
    await ctx.query(`update cases set resolution_paused_at = '2026-06-08T09:00:00Z' where id = $1`, [c.id])
    // long past the old due time, a paused clock neither warns nor breaches
    await checkClocks(ctx.infra.db, at('2026-06-14T12:00:00Z'))
    expect(await slaEvents(c.reference)).toEqual([])

    // the resident answers a week later, Monday 15 June 10:00 BST
    await setStatus(c.id, 'open')
    expect((await pauseOf(c.id)).resolution_resumed_at).not.toBeNull()
    await ctx.query(`update cases set resolution_resumed_at = '2026-06-15T09:00:00Z' where id = $1`, [c.id])
    expect(await resumeClocks(ctx.infra.db)).toBeGreaterThanOrEqual(1)
    // 38 h from Monday 10:00: Friday 19 June 16:00 BST
    expect(await pauseOf(c.id)).toEqual({ resolution_paused_at: null, resolution_resumed_at: null, resolution_due_at: new Date('2026-06-19T15:00:00Z') })
    const [resumed] = await slaEvents(c.reference)
    expect(resumed).toMatchObject({ type: 'sla.resumed', data: { clock: 'resolution', due_at: '2026-06-19T15:00:00.000Z', paused_business_hours: 40 } })

    await checkClocks(ctx.infra.db, at('2026-06-19T14:00:00Z'))
    expect((await slaEvents(c.reference)).map((e) => e.type)).not.toContain('sla.breached')
    await checkClocks(ctx.infra.db, at('2026-06-19T15:30:00Z'))
    expect((await slaEvents(c.reference)).map((e) => e.type)).toContain('sla.breached')
  })

  it('does not pause a clock already breached, and a resolved case is not breached however long it waited', async () => {
    const late = await placedCase('2026-06-05T15:00:00Z')
    const waits = await placedCase('2026-06-05T15:00:00Z')
    await ctx.query(`update cases set work_status = 'open', first_response_at = now() where id = any($1)`, [[late.id, waits.id]])
    await setClocks(ctx.infra.db)
    await ctx.query(`update cases set resolution_breached_at = now() where id = $1`, [late.id])
    await setStatus(late.id, 'waiting_on_resident')
    expect((await pauseOf(late.id)).resolution_paused_at).toBeNull()

    await setStatus(waits.id, 'waiting_on_resident')
    await setStatus(waits.id, 'resolved')
    await resumeClocks(ctx.infra.db)
    await checkClocks(ctx.infra.db, at('2030-01-01T00:00:00Z'))
    expect((await slaEvents(waits.reference)).map((e) => e.type)).toEqual(['sla.resumed'])
  })
})
