import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { applyRetention } from '../../src/data-protection/retention.js'
import { adminRequest } from '../helpers/delivery.js'
import { createEmailContext, type EmailContext } from '../helpers/email.js'
import { TWILIO_TOKEN } from '../helpers/twilio.js'
import { HINCKLEY, WESTMINSTER } from '../helpers/councils.js'
import { diff, expected, keys, later, makeWorld, phraseIn, setSchedules, snapshot, TABLES } from './fixtures/retention-world.js'

// Councils' own schedules, legal holds, the counts that must survive, and running twice.
// (Each record class on its own: retention-classes.test.ts; a run killed midway: retention-kill.test.ts.)

let ctx: EmailContext
beforeAll(async () => {
  ctx = await createEmailContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN, RETENTION_EVERY_MINUTES: 0 })
})
afterAll(async () => {
  await ctx?.close()
})

const run = (now: Date) => applyRetention(ctx.infra.db, { now, batchSize: 4, log: ctx.infra.log })
const ALL_SHORT = { raw: 1, content: 1, case: 1, delivery: 1, resident: 1, access_log: 1 }

describe('retention per council', () => {
  it("keeps a council's records for its own longer schedule while another council's expire", async () => {
    const world = await makeWorld(ctx)
    await setSchedules(ctx, { content: 1, access_log: 1 }, [
      { council: WESTMINSTER, cls: 'content', days: 10 },
      { council: WESTMINSTER, cls: 'access_log', days: 10 }
    ])
    const messages = await keys(
      ctx,
      `select m.id as k from messages m join cases c on c.id = m.case_id
        where m.redacted_at is null and c.legal_hold_at is null and coalesce(c.council_gss, c.requested_council_gss) is distinct from $1`,
      [WESTMINSTER]
    )
    const media = await keys(ctx, `select mm.id as k from message_media mm where mm.message_id = any($1::bigint[]) and mm.filename is not null`, [messages.map(Number)])
    const reads = await keys(ctx, `select id as k from access_log where council_gss is distinct from $1`, [WESTMINSTER])
    const before = await snapshot(ctx)

    const result = await run(later(2))

    expect(diff(before, await snapshot(ctx))).toEqual(expected({ messages: { changed: messages }, message_media: { changed: media }, access_log: { removed: reads } }))
    const councilOf = async (caseId: number) => (await ctx.query<{ gss: string }>('select council_gss as gss from cases where id = $1', [caseId]))[0]!.gss
    expect(await councilOf(world.cases.hinckley)).toBe(HINCKLEY)
    for (const id of [world.cases.westminster, world.cases.sms, world.cases.email]) expect(await councilOf(id)).toBe(WESTMINSTER)
    const bodies = await ctx.query<{ case_id: number; body: string }>(`select case_id, body from messages where direction = 'inbound' and case_id = any($1::bigint[])`, [world.caseIds])
    for (const m of bodies) {
      if (m.case_id === world.cases.hinckley) expect(m.body).toBe('')
      else expect(m.body).toContain(world.phrase)
    }
    expect(result.counts.content).toBe(messages.length)
    expect(result.counts.access_log).toBe(reads.length)

    // ten days on, Westminster's are due too
    await run(later(11))
    expect(await ctx.query(`select 1 from messages where case_id = any($1::bigint[]) and redacted_at is null`, [world.caseIds])).toHaveLength(0)
    expect(await ctx.query(`select 1 from access_log where case_id = any($1::bigint[])`, [world.caseIds])).toHaveLength(0)
  })
})

describe('legal hold', () => {
  it('keeps everything belonging to a case under legal hold, in every class, while the rest expires', async () => {
    const world = await makeWorld(ctx)
    const held = world.cases.sms
    // set as an operator sets it (PUT /v1/admin/cases/:reference/legal-hold)
    await ctx.query(`update cases set legal_hold_reason = 'Disputed in the county court', legal_hold_at = now(), legal_hold_by = 'operator' where id = $1`, [held])
    await setSchedules(ctx, ALL_SHORT)
    const [resident] = await ctx.query<{ id: number }>('select resident_id as id from cases where id = $1', [held])
    // every row that is the held case's, by table
    const mine: Record<string, string[]> = {
      cases: [String(held)],
      case_events: await keys(ctx, 'select id as k from case_events where case_id = $1', [held]),
      messages: await keys(ctx, 'select id as k from messages where case_id = $1', [held]),
      raw_inbound: await keys(ctx, 'select id as k from raw_inbound where case_id = $1', [held]),
      deliveries: await keys(ctx, 'select id as k from deliveries where case_id = $1', [held]),
      webhook_events: await keys(ctx, 'select id as k from webhook_events where case_id = $1', [held]),
      access_log: await keys(ctx, 'select id as k from access_log where case_id = $1', [held]),
      residents: [String(resident!.id)],
      contact_points: await keys(ctx, `select kind || ':' || value as k from contact_points where resident_id = $1`, [resident!.id]),
      sms_opt_outs: await keys(ctx, `select phone as k from sms_opt_outs where phone = $1`, [world.smsPhone])
    }
    for (const t of ['case_events', 'messages', 'raw_inbound', 'deliveries', 'access_log', 'contact_points']) expect(mine[t], t).not.toHaveLength(0)
    const before = await snapshot(ctx)

    const result = await run(later(3))

    const after = await snapshot(ctx)
    for (const [table, ks] of Object.entries(mine)) for (const k of ks) expect(after[table]!.get(k), `${table} ${k}`).toBe(before[table]!.get(k))
    // the same world's other cases are gone to retention
    for (const c of RECORD_KEYS) expect(result.counts[c], c).toBeGreaterThan(0)
    const others = await ctx.query<{ redaction: string | null }>('select redaction from cases where id = any($1::bigint[]) and id <> $2', [world.caseIds, held])
    expect(others.map((o) => o.redaction)).toEqual(others.map(() => 'retention'))
    const [c] = await ctx.query<{ description: string }>('select description from cases where id = $1', [held])
    expect(c!.description).toContain(world.phrase)

    // released, it expires with the next run
    await ctx.query(`update cases set legal_hold_reason = null, legal_hold_at = null, legal_hold_by = null where id = $1`, [held])
    await run(later(3))
    expect((await ctx.query<{ redaction: string | null }>('select redaction from cases where id = $1', [held]))[0]!.redaction).toBe('retention')
    expect(await phraseIn(ctx, 'messages', world.phrase)).toBe(false)
  })
})

const RECORD_KEYS = ['raw', 'content', 'case', 'delivery', 'resident', 'access_log'] as const

describe('what survives, and running again', () => {
  it('leaves the counts of cases by council, service, channel and month exactly as they were', async () => {
    const world = await makeWorld(ctx)
    const report = async (query = '') => {
      const res = await adminRequest(ctx, 'GET', `/v1/admin/reports/cases${query}`)
      expect(res.statusCode, res.body).toBe(200)
      return res.json() as Array<{ council_gss: string | null; service_code: string | null; channel: string; month: string; cases: number }>
    }
    const [total] = await ctx.query<{ n: number }>('select count(*)::int as n from cases')
    const before = await report()
    expect(before.reduce((n, r) => n + r.cases, 0)).toBe(total!.n)
    const channels = new Set(before.filter((r) => r.council_gss === WESTMINSTER).map((r) => r.channel))
    expect(channels).toEqual(new Set(['web', 'sms', 'email']))
    const westminster = await report(`?council=${WESTMINSTER}`)
    expect(westminster.length).toBeGreaterThan(0)
    expect(westminster).toEqual(before.filter((r) => r.council_gss === WESTMINSTER))

    await setSchedules(ctx, ALL_SHORT)
    await run(later(3))

    expect(await ctx.query('select 1 from cases where redacted_at is null and legal_hold_at is null')).toHaveLength(0)
    for (const table of ['cases', 'messages', 'case_events', 'raw_inbound']) expect(await phraseIn(ctx, table, world.phrase), table).toBe(false)
    expect(await report()).toEqual(before)
    expect(await report(`?council=${WESTMINSTER}`)).toEqual(westminster)
    const unknown = await adminRequest(ctx, 'GET', '/v1/admin/reports/cases?council=E99999999')
    expect(unknown.statusCode).toBe(422)
    expect(unknown.json()).toMatchObject({ code: 'unknown_council', field: 'council' })
  })

  it('a second run with the same clock finds nothing to do and changes no row', async () => {
    await makeWorld(ctx)
    await setSchedules(ctx, ALL_SHORT)
    const now = later(3)
    const first = await run(now)
    expect(first.counts.case).toBeGreaterThan(0)
    const before = await snapshot(ctx)

    const second = await run(now)

    expect(second.counts).toEqual({ raw: 0, content: 0, case: 0, delivery: 0, resident: 0, access_log: 0 })
    expect(Object.values(second.detail).every((n) => n === 0)).toBe(true)
    const after = await snapshot(ctx)
    expect(diff(before, after)).toEqual({})
    expect(Object.keys(after)).toEqual(Object.keys(TABLES))
    // both runs are on record, finished, each with what it did
    const runs = await ctx.query<{ id: number; counts: Record<string, unknown>; finished_at: Date | null; as_of: Date }>(
      'select id, counts, finished_at, as_of from retention_runs where id = any($1::bigint[]) order by id',
      [[first.runId, second.runId]]
    )
    expect(runs.map((r) => r.as_of.getTime())).toEqual([now.getTime(), now.getTime()])
    expect(runs.every((r) => r.finished_at !== null)).toBe(true)
    expect(runs[0]!.counts).toMatchObject(first.counts)
    expect(runs[1]!.counts).toMatchObject(second.counts)
  })

  it('two runs at once share the work: nothing is done twice or missed, and neither fails', async () => {
    await makeWorld(ctx)
    await makeWorld(ctx)
    await setSchedules(ctx, ALL_SHORT)
    const [due] = await ctx.query<{ cases: number; messages: number; reads: number }>(
      `select (select count(*)::int from cases where redacted_at is null and legal_hold_at is null) as cases,
              (select count(*)::int from messages m join cases c on c.id = m.case_id where m.redacted_at is null and c.legal_hold_at is null) as messages,
              (select count(*)::int from access_log a where not exists (select 1 from cases c where c.id = a.case_id and c.legal_hold_at is not null)) as reads`
    )
    const now = later(3)
    const both = await Promise.all([1, 2].map(() => applyRetention(ctx.infra.db, { now, batchSize: 2, log: ctx.infra.log })))
    const sum = (cls: 'case' | 'access_log') => both[0]!.counts[cls] + both[1]!.counts[cls]
    expect(sum('case')).toBe(due!.cases)
    expect(sum('access_log')).toBe(due!.reads)
    // a message is redacted by the content pass or with its case, once
    expect(both[0]!.detail.messages + both[1]!.detail.messages).toBe(due!.messages)
    expect((await run(now)).counts).toEqual({ raw: 0, content: 0, case: 0, delivery: 0, resident: 0, access_log: 0 })
  })

  it('logs counts only, never personal data', async () => {
    const world = await makeWorld(ctx)
    await setSchedules(ctx, ALL_SHORT)
    const from = ctx.logs.length
    await run(later(3))
    const lines = ctx.logs.slice(from).filter((l) => l.includes('retention applied'))
    expect(lines).toHaveLength(1)
    const rows = await ctx.query<{ v: string }>(`select reported_email as v from cases where id = any($1::bigint[]) and reported_email is not null`, [world.caseIds])
    expect(rows).toHaveLength(0) // gone from the database, and never in the log
    for (const secret of [world.phrase, world.smsPhone, world.stopPhone, world.startPhone, world.tag]) expect(ctx.logs.slice(from).join('\n')).not.toContain(secret)
  })
})
