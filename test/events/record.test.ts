import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Queryable } from '../../src/db/pool.js'
import type { EventData } from '../../src/events/catalogue.js'
import { eventsFrom, recordEvent, recordEvents, sql, type NewEvent } from '../../src/events/record.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { projectRoot } from '../../src/lib/paths.js'
import { createTestContext, type TestContext } from '../helpers/context.js'

// The one way TypeScript writes case events (src/events/record.ts), against real Postgres:
// the row stored is the row given, in the single, many-row and set-based (CTE) forms; text
// that looks like SQL is stored as text; a type the catalogue lacks is refused.

let ctx: TestContext

interface Row {
  case_id: number
  type: string
  actor: string
  reason: string
  data: unknown
}

async function newCase(): Promise<number> {
  const [row] = await ctx.query<{ id: number }>(
    `with r as (insert into residents default values returning id)
     insert into cases (reference, resident_id, channel) select $1, r.id, 'web' from r returning id`,
    [newCaseReference()]
  )
  return row!.id
}

const eventsOn = (caseIds: number[]) =>
  ctx.query<Row>('select case_id, type, actor, reason, data from case_events where case_id = any($1::bigint[]) order by id', [caseIds])

// what an agent or a council may type, stored as they typed it
const HOSTILE = `O'Brien said "no"; drop table case_events; -- $1 \\ ü`

beforeAll(async () => {
  ctx = await createTestContext()
})

afterAll(async () => {
  await ctx?.close()
})

describe('recording one event', () => {
  it('stores exactly the row given', async () => {
    const caseId = await newCase()
    const data = { merge_id: 7, from_case: HOSTILE, message_ids: [3, 1, 2], delivery_ids: [], deliveries_kept: 0 }
    await recordEvent(ctx.infra.db, { caseId, type: 'case.merged', actor: 'agent:42', reason: HOSTILE, data })
    expect(await eventsOn([caseId])).toEqual([{ case_id: caseId, type: 'case.merged', actor: 'agent:42', reason: HOSTILE, data }])
  })

  it('stores {} for a type without data, as the column default did', async () => {
    const caseId = await newCase()
    await recordEvent(ctx.infra.db, { caseId, type: 'legal_hold.released', actor: 'operator', reason: 'Legal hold released' })
    expect(await eventsOn([caseId])).toEqual([{ case_id: caseId, type: 'legal_hold.released', actor: 'operator', reason: 'Legal hold released', data: {} }])
  })

  it('refuses a type the catalogue does not have, and stores nothing', async () => {
    const caseId = await newCase()
    const unknown = { caseId, type: 'case.exploded', actor: 'operator', reason: 'no such type' } as unknown as NewEvent
    await expect(recordEvent(ctx.infra.db, unknown)).rejects.toThrow(/case\.exploded is not a case event type/)
    await expect(recordEvents(ctx.infra.db, [unknown])).rejects.toThrow(/not a case event type/)
    expect(await eventsOn([caseId])).toEqual([])
  })
})

describe('recording many events', () => {
  it('stores each row given, in the order given, in one statement', async () => {
    const [a, b] = [await newCase(), await newCase()]
    const events: NewEvent[] = [
      { caseId: b, type: 'erasure.refused', actor: 'operator', reason: `Erasure request #9 refused: the case is under legal hold (${HOSTILE})`, data: { erasure_id: 9 } },
      { caseId: a, type: 'case.erased', actor: 'operator', reason: 'Personal data erased on request #9', data: { erasure_id: 9 } },
      { caseId: b, type: 'legal_hold.set', actor: 'operator', reason: 'Legal hold: court order' }
    ]
    await recordEvents(ctx.infra.db, events)
    expect(await eventsOn([a, b])).toEqual([
      { case_id: b, type: 'erasure.refused', actor: 'operator', reason: events[0]!.reason, data: { erasure_id: 9 } },
      { case_id: a, type: 'case.erased', actor: 'operator', reason: 'Personal data erased on request #9', data: { erasure_id: 9 } },
      { case_id: b, type: 'legal_hold.set', actor: 'operator', reason: 'Legal hold: court order', data: {} }
    ])
  })
})

describe('events of a set-based statement', () => {
  it('writes one event per row of the CTE, its fields from our values and from the rows', async () => {
    const ids = [await newCase(), await newCase(), await newCase()]
    const event = eventsFrom(
      {
        from: 'c order by c.id',
        caseId: sql('c.id'),
        type: 'case.triaged',
        actor: 'worker:route',
        reason: sql(`'placed by hand: ' || $2 || ' (' || c.reference || ')'`),
        data: { candidates: ['E09000033', HOSTILE], partnership_id: sql<string | null>('c.partnership_id'), error: HOSTILE }
      },
      [ids.slice(0, 2), 'no council']
    )
    const { rows } = await ctx.infra.db.query<{ id: number; reference: string }>(
      `with c as (update cases set partnership_id = 'tri-borough' where id = any($1::bigint[]) returning id, reference, partnership_id),
            e as (${event.text})
       select id, reference from c order by id`,
      event.values
    )
    // the statement's own parameters are still its own, and only its rows have events
    expect(rows.map((r) => r.id)).toEqual(ids.slice(0, 2))
    expect(await eventsOn(ids)).toEqual(
      rows.map((r) => ({
        case_id: r.id,
        type: 'case.triaged',
        actor: 'worker:route',
        reason: `placed by hand: no council (${r.reference})`,
        data: { candidates: ['E09000033', HOSTILE], partnership_id: 'tri-borough', error: HOSTILE }
      }))
    )
  })

  it('writes one event when there is no source, and may be the whole statement with a returning', async () => {
    const caseId = await newCase()
    const event = eventsFrom({ caseId, type: 'message.failed', actor: 'worker:send', reason: HOSTILE, data: { message_id: 12, status: 'failed' } }, [])
    const { rows } = await ctx.infra.db.query<{ type: string }>(`${event.text} returning type`, event.values)
    expect(rows).toEqual([{ type: 'message.failed' }])
    expect(await eventsOn([caseId])).toEqual([{ case_id: caseId, type: 'message.failed', actor: 'worker:send', reason: HOSTILE, data: { message_id: 12, status: 'failed' } }])
  })

  it('takes the type and data from the rows, for a statement whose rows differ in type', async () => {
    const [a, b] = [await newCase(), await newCase()]
    const rows = [
      { case_id: a, outcome: 'delivered', data: { delivery_id: 'd-1', attempt: 1 } },
      { case_id: b, outcome: 'dead', data: { delivery_id: 'd-2', attempt: 4 } }
    ]
    type Settled = 'delivery.succeeded' | 'delivery.dead_lettered'
    const event = eventsFrom(
      {
        from: 'jsonb_to_recordset($1::jsonb) as v (case_id bigint, outcome text, data jsonb) order by v.case_id',
        caseId: sql('v.case_id'),
        type: sql<Settled>(`case v.outcome when 'delivered' then 'delivery.succeeded' else 'delivery.dead_lettered' end`),
        actor: 'worker:deliver',
        reason: 'settled',
        data: sql<EventData<Settled>>('v.data')
      },
      [JSON.stringify(rows)]
    )
    await ctx.infra.db.query(event.text, event.values)
    expect(await eventsOn([a, b])).toEqual([
      { case_id: a, type: 'delivery.succeeded', actor: 'worker:deliver', reason: 'settled', data: { delivery_id: 'd-1', attempt: 1 } },
      { case_id: b, type: 'delivery.dead_lettered', actor: 'worker:deliver', reason: 'settled', data: { delivery_id: 'd-2', attempt: 4 } }
    ])
  })

  it('keeps one text for one call site whatever the values, so it can be a named statement', async () => {
    const [a, b] = [await newCase(), await newCase()]
    const client = await ctx.infra.db.connect()
    try {
      // pg refuses a name prepared on this connection with another text
      for (const [caseId, teamId] of [
        [a, 5],
        [b, undefined]
      ] as const) {
        const event = eventsFrom(
          { from: 'c', caseId: sql('c.id'), type: 'case.assigned', actor: 'worker:assign', reason: 'test', data: { agent_id: sql<number>('$2::bigint'), how: sql<'round_robin'>(`'round_robin'::text`), team_id: teamId } },
          [caseId, 3]
        )
        await client.query({ name: 'record-test-assigned', text: `with c as (select id from cases where id = $1) ${event.text}`, values: event.values })
      }
    } finally {
      client.release()
    }
    expect((await eventsOn([a, b])).map((e) => e.data)).toEqual([{ agent_id: 3, how: 'round_robin', team_id: 5 }, { agent_id: 3, how: 'round_robin' }])
  })
})

describe('the recorder', () => {
  it('is the only code, TypeScript or SQL source, that inserts case events', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((name) => {
        const path = join(dir, name)
        return statSync(path).isDirectory() ? files(path) : /\.(ts|sql)$/.test(name) ? [path] : []
      })
    const sources = [...files(join(projectRoot, 'src')), ...files(join(projectRoot, 'workers'))]
    // the scan reads the SQL sources too: a guard against one that silently finds none
    expect(sources.filter((f) => f.endsWith('.sql')).length).toBeGreaterThan(5)
    const writers = sources
      .filter((f) => !f.startsWith(join(projectRoot, 'src', 'events')) && /insert\s+into\s+case_events\b/i.test(readFileSync(f, 'utf8')))
      .map((f) => relative(projectRoot, f))
    expect(writers, 'write case events through src/events/record.ts, or record_case_event (src/events/sql/record.sql) from SQL').toEqual([])
  })
})

// Checked by the compiler (npx tsc --noEmit -p tsconfig.json), never run: each line is a write
// whose data does not fit its type, and @ts-expect-error fails the check should it be accepted.
async function refusedByTheCompiler(db: Queryable) {
  const e = { caseId: 1, actor: 'agent:1', reason: 'r' }
  // @ts-expect-error: agent_id is a number
  await recordEvent(db, { ...e, type: 'case.assigned', data: { agent_id: '7', how: 'claim' } })
  // @ts-expect-error: 'case.assigned' says how
  await recordEvent(db, { ...e, type: 'case.assigned', data: { agent_id: 7 } })
  // @ts-expect-error: not a way of assigning
  await recordEvent(db, { ...e, type: 'case.assigned', data: { agent_id: 7, how: 'stolen' } })
  // @ts-expect-error: 'case.assigned' has data
  await recordEvent(db, { ...e, type: 'case.assigned' })
  // @ts-expect-error: a legal hold carries no data
  await recordEvent(db, { ...e, type: 'legal_hold.set', data: { why: 'court' } })
  // @ts-expect-error: not a type of the catalogue
  await recordEvent(db, { ...e, type: 'case.exploded', data: {} })
  // @ts-expect-error: a note's data is its note
  await recordEvents(db, [{ ...e, type: 'note.internal', data: { body: 'hello' } }])
  // @ts-expect-error: the column stands for a number
  eventsFrom({ ...e, from: 'c', type: 'case.released', data: { agent_id: sql<string>('c.agent') } }, [])
  // @ts-expect-error: message_id is missing
  eventsFrom({ ...e, from: 'm', type: 'message.queued', data: { channel: 'email' } }, [])
}
void refusedByTheCompiler
