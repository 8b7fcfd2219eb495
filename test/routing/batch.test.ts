import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { intakeContact, intakeContacts } from '../../src/intake/intake.js'
import type { InboundContact } from '../../src/intake/inbound-contact.js'
import { enqueueMany } from '../../src/jobs/outbox-relay.js'
import { routeCase, routeCases, type RouteJobRef } from '../../src/routing/route-case.js'
import { createTestContext, waitFor, type TestContext } from '../helpers/context.js'
import { inbound, PLACES, uid } from '../helpers/pipeline.js'
import { exitOf, killIfAlive, spawnTs, workersSettings, type Spawned } from '../helpers/processes.js'
import { WESTMINSTER } from '../helpers/councils.js'

// Routing a batch of cases in set-based statements must decide and record exactly what
// routing them one by one does, and stay exactly-once when the process dies mid-batch.

let ctx: TestContext
beforeAll(async () => {
  // no workers: each test decides when routing runs
  ctx = await createTestContext({}, { mail: 'demo' })
})
afterAll(async () => {
  await ctx?.close()
})

/** Every kind of case routing meets: two-tier, triage, free text, a named council, a dedicated number, coordinates. */
function kinds(tag: string): Array<Partial<InboundContact>> {
  const who = (n: number) => ({ name: `Test Resident ${n}`, email: `batch.${tag}.${n}.${uid()}@example.com`, phone: null, raw: null })
  return [
    // two-tier: the same district postcode, a county service and a district one
    { sender: who(1), text: 'A deep pothole on the road outside number 12', location: { postcode: 'LE10 0FR', lat: null, lng: null } },
    { sender: who(2), text: 'My wheelie bin was not emptied this week', location: { postcode: 'LE10 0FR', lat: null, lng: null } },
    // a service chosen from a form, a unitary council
    { sender: who(3), serviceCode: 'missed_bin', location: { postcode: 'SW1A 1AA', lat: null, lng: null } },
    // free text with nothing to classify it: a general enquiry
    { sender: who(4), text: 'Please could somebody call me back about my letter', location: { postcode: 'HA9 0FJ', lat: null, lng: null } },
    // a named council
    { sender: who(5), text: 'Graffiti on the underpass', councilGss: WESTMINSTER },
    // triage: a service that needs a location, and none given
    { sender: who(6), text: 'A pothole somewhere near the shops' },
    // triage: a postcode no coverage knows
    { sender: who(7), text: 'Fly-tipping in the lane', location: { postcode: 'ZE2 9AA', lat: null, lng: null } },
    // coordinates only
    { sender: who(8), text: 'Broken street light', location: { postcode: null, lat: 51.5014, lng: -0.1419 } },
    // a text to a partnership's number, and to a number dedicated to one council
    { channel: 'sms', provider: 'twilio', sender: { name: null, email: null, phone: '+447911120001', raw: '+447911120001' }, recipient: '+447700900200', text: 'Bin not collected at LE10 0AA' },
    { channel: 'sms', provider: 'twilio', sender: { name: null, email: null, phone: '+447911120002', raw: '+447911120002' }, recipient: '+447700900101', text: 'Noise from a party every night' }
  ]
}

interface Decided {
  status: string
  service_code: string | null
  partnership_id: string | null
  council_gss: string | null
  team: string | null
  destination_id: number | null
  triage_candidates: string[]
  sla_hours: number | null
  events: Array<{ type: string; actor: string; reason: string; data: unknown }>
  deliveries: Array<{ destination_id: number; kind: string }>
}

/** What routing decided and recorded for a case, without its ids and times. */
async function decided(caseId: number): Promise<Decided> {
  const [c] = await ctx.query<Omit<Decided, 'events' | 'deliveries'>>(
    `select status, service_code, partnership_id, council_gss, team, destination_id, triage_candidates,
            extract(epoch from sla_due_at - created_at)::int / 3600 as sla_hours
       from cases where id = $1`,
    [caseId]
  )
  const events = await ctx.query<Decided['events'][number]>(
    `select type, actor, reason, data from case_events where case_id = $1 and actor = 'worker:route' order by id`,
    [caseId]
  )
  const deliveries = await ctx.query<Decided['deliveries'][number]>(`select destination_id, kind from deliveries where case_id = $1 order by id`, [caseId])
  return { ...c!, events, deliveries }
}

async function store(tag: string): Promise<RouteJobRef[]> {
  const jobs: RouteJobRef[] = []
  for (const over of kinds(tag)) {
    const result = await intakeContact(ctx.infra.db, inbound({ providerMessageId: `auto:${tag}-${uid()}`, ...over }))
    expect(result.outbox, 'a new case has a route job').toBeTruthy()
    jobs.push({ caseId: result.caseId, outboxId: result.outbox!.id })
  }
  return jobs
}

describe('routing a batch of cases', () => {
  it('decides and records for each case exactly what routing it alone does, a duplicate job included', async () => {
    const deps = { db: ctx.infra.db, catalogue: ctx.infra.catalogue, queues: ctx.infra.queues, log: ctx.infra.log }
    const alone = await store('alone')
    const together = await store('together')
    for (const job of alone) await routeCase(deps, job)
    // one batch, with the first case's job in it twice (a sweep racing the relay)
    const duplicate = { caseId: together[0]!.caseId, outboxId: together[0]!.outboxId }
    const outcomes = await routeCases(deps, [...together, duplicate])
    expect(outcomes.at(-1)).toBe('already_placed')
    expect(outcomes.slice(0, -1).every((o) => o === 'routed' || o === 'triaged')).toBe(true)

    const statuses = new Set<string>()
    for (let i = 0; i < alone.length; i++) {
      const one = await decided(alone[i]!.caseId)
      const batch = await decided(together[i]!.caseId)
      expect(batch, `case ${i} (${JSON.stringify(kinds('x')[i]!.text ?? kinds('x')[i]!.serviceCode)})`).toEqual(one)
      expect(one.events.map((e) => e.type)).toEqual(['case.service_chosen', one.status === 'routed' ? 'case.routed' : 'case.triaged'])
      statuses.add(`${one.status}:${one.council_gss}`)
    }
    // the mix really is a mix: the county and the district, other councils, and triage
    expect([...statuses]).toEqual(expect.arrayContaining(['routed:E10000018', 'routed:E07000132', 'routed:E09000033', 'triage:null']))
    // every job's outbox row is done, and routing the batch again changes nothing
    expect(await ctx.query(`select 1 from outbox where id = any($1) and done_at is null`, [together.map((j) => j.outboxId)])).toEqual([])
    const again = await routeCases(deps, together)
    expect(new Set(again)).toEqual(new Set(['already_placed']))
    for (const job of together) expect((await decided(job.caseId)).events).toHaveLength(2)
  })

  it('routes every case exactly once when the workers are killed -9 in the middle of a backlog, and restarted', async () => {
    const total = 1500
    const contacts: InboundContact[] = Array.from({ length: total }, (_, i) => {
      const place = PLACES[i % PLACES.length]!
      return inbound({
        providerMessageId: `auto:kill-${i}-${uid()}`,
        sender: { name: `Test Resident ${i}`, email: `kill.${i}.${uid()}@example.com`, phone: null, raw: null },
        serviceCode: place.service_code,
        location: { postcode: place.postcode, lat: null, lng: null }
      })
    })
    for (let i = 0; i < total; i += 250) await intakeContacts(ctx.infra.db, contacts.slice(i, i + 250))
    // the route jobs, handed to Redis as the API does after commit
    const rows = await ctx.query<{ id: number; topic: 'case:route'; payload: Record<string, number>; job_key: string }>(
      `update outbox set relayed_at = clock_timestamp() where topic = 'case:route' and done_at is null returning id, topic, payload, job_key`
    )
    await enqueueMany(ctx.infra.queues, rows)

    // small batches, so the kill lands between some and in the middle of others
    const settings = workersSettings(ctx.config, { ROUTE_CONCURRENCY: '50' })
    // this test's cases only (the file's other test has routed cases of its own)
    const routed = async () => (await ctx.query<{ n: number }>(`select count(*)::int as n from cases where status <> 'received' and reported_email like 'kill.%'`))[0]!.n
    let workers: Spawned | undefined
    try {
      workers = spawnTs('src/main.ts', ['workers'], settings)
      const first = workers
      const partway = await waitFor(
        async () => {
          if (!first.alive()) throw new Error(`the workers exited\n${first.output()}`)
          const n = await routed()
          return n >= 100 ? n : null
        },
        45_000,
        'the workers to be partway through the backlog'
      )
      first.proc.kill('SIGKILL')
      expect((await exitOf(first)).signal).toBe('SIGKILL')
      const atKill = await routed()
      expect(atKill, `killed after ${partway} routed`).toBeLessThan(total)

      workers = spawnTs('src/main.ts', ['workers'], settings)
      const second = workers
      await waitFor(
        async () => {
          if (!second.alive()) throw new Error(`the workers exited\n${second.output()}`)
          return (await routed()) === total
        },
        // jobs the killed process held stay locked until BullMQ finds them stalled (a 30 s
        // lock, checked every 30 s), then run again
        200_000,
        'the restarted workers to route the rest'
      ).catch(async (err: Error) => {
        const jobs = await ctx.infra.queues['case:route'].getJobCounts()
        throw new Error(`${err.message}: ${await routed()} of ${total} routed; route jobs ${JSON.stringify(jobs)}\n${second.output().slice(-3000)}`)
      })
      await waitFor(async () => (await ctx.query(`select 1 from outbox where done_at is null limit 1`)).length === 0, 120_000, 'every outbox row done').catch(
        async (err: Error) => {
          const left = await ctx.query(`select topic, count(*)::int as n from outbox where done_at is null group by 1`)
          throw new Error(`${err.message}: ${JSON.stringify(left)}; deliver jobs ${JSON.stringify(await ctx.infra.queues['case:deliver'].getJobCounts())}`)
        }
      )
    } finally {
      await killIfAlive(workers)
    }
    const counts = await ctx.query<{ routed: number; service: number; deliveries: number; n: number }>(
      `select r.routed, r.service, r.deliveries, count(*)::int as n
         from (select c.id,
                      (select count(*) from case_events e where e.case_id = c.id and e.type in ('case.routed', 'case.triaged'))::int as routed,
                      (select count(*) from case_events e where e.case_id = c.id and e.type = 'case.service_chosen')::int as service,
                      (select count(*) from deliveries d where d.case_id = c.id)::int as deliveries
                 from cases c where c.description = '' and c.reported_email like 'kill.%') r
        group by 1, 2, 3`
    )
    expect(counts).toEqual([{ routed: 1, service: 1, deliveries: 1, n: total }])
  }, 420_000)
})
