import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentSessions } from '../../src/agents/sessions.js'
import type { AgentRole } from '../../src/agents/tokens.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { createTestContext, eventsOf, type TestContext } from '../helpers/context.js'

// Merging cases (messages and deliveries move, an undo within the window moves exactly them
// back) and residents (audited, never undone), each only within the agent's partnership.

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({}, { mail: 'demo' })
})
afterAll(async () => {
  await ctx?.close()
})

let n = 0
async function agent(partnership = 'tri-borough', role: AgentRole = 'agent') {
  const [row] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, role, password_hash) values ($1, $2, $3, 'not-a-hash') returning id`,
    [partnership, `merger${++n}.${Date.now()}@example.org`, role]
  )
  const token = await agentSessions(ctx.infra).sign({ agentId: row!.id, partnershipId: partnership, role })
  return { id: row!.id, auth: { authorization: `Bearer ${token}` } }
}

/** A case of a resident (a new one unless given), with the given work status. */
async function newCase(opts: { partnership?: string; resident?: number; workStatus?: string } = {}) {
  const reference = newCaseReference()
  const resident = opts.resident ?? (await ctx.query<{ id: number }>('insert into residents default values returning id'))[0]!.id
  const [row] = await ctx.query<{ id: number }>(
    `insert into cases (reference, resident_id, channel, partnership_id, work_status) values ($1, $2, 'sms', $3, $4) returning id`,
    [reference, resident, opts.partnership ?? 'tri-borough', opts.workStatus ?? 'open']
  )
  return { id: row!.id, reference, resident }
}

async function message(caseId: number, body: string) {
  const [row] = await ctx.query<{ id: number }>(`insert into messages (case_id, direction, channel, body) values ($1, 'inbound', 'sms', $2) returning id`, [caseId, body])
  return row!.id
}

async function delivery(caseId: number, destinationId: number) {
  const [row] = await ctx.query<{ id: number }>(
    `insert into deliveries (case_id, destination_id, kind) select $1, id, kind from destinations where id = $2 returning id`,
    [caseId, destinationId]
  )
  return row!.id
}

const post = (url: string, auth: Record<string, string>, payload?: unknown) => ctx.app.inject({ method: 'POST', url, headers: auth, ...(payload ? { payload } : {}) })
const messagesOf = async (caseId: number) => (await ctx.query<{ id: number }>('select id from messages where case_id = $1 order by id', [caseId])).map((r) => r.id)
const deliveriesOf = async (caseId: number) => (await ctx.query<{ id: number }>('select id from deliveries where case_id = $1 order by id', [caseId])).map((r) => r.id)
const caseOf = async (id: number) => (await ctx.query<{ merged_into: number | null; work_status: string }>('select merged_into, work_status from cases where id = $1', [id]))[0]!

describe('merging two cases', () => {
  it('moves messages and deliveries to the survivor, records it, and an undo moves exactly those back', async () => {
    const a = await agent()
    const [d1, d2] = (await ctx.query<{ id: number }>('select id from destinations order by id limit 2')).map((r) => r.id)
    const into = await newCase()
    const from = await newCase({ workStatus: 'waiting_on_back_office' })
    const survivorOwn = await message(into.id, 'The bin was not collected')
    const survivorDelivery = await delivery(into.id, d1!)
    const moved = [await message(from.id, 'Still not collected'), await message(from.id, 'Photo attached')]
    const movedDelivery = await delivery(from.id, d2!)
    // the survivor already has a delivery to d1: that one cannot move (one per case and destination)
    const keptDelivery = await delivery(from.id, d1!)

    const res = await post(`/v1/agent/cases/${from.reference}/merge`, a.auth, { into: into.reference, reason: 'Same missed collection, texted twice' })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body).toMatchObject({ from: from.reference, into: into.reference, message_ids: moved, delivery_ids: [movedDelivery], deliveries_kept: 1 })
    // the default window: 30 minutes
    expect(Math.abs(new Date(body.undo_until).getTime() - (Date.now() + 30 * 60_000))).toBeLessThan(60_000)
    expect(await messagesOf(into.id)).toEqual([survivorOwn, ...moved])
    expect(await messagesOf(from.id)).toEqual([])
    expect(await deliveriesOf(into.id)).toEqual([survivorDelivery, movedDelivery])
    expect(await deliveriesOf(from.id)).toEqual([keptDelivery])
    expect(await caseOf(from.id)).toEqual({ merged_into: into.id, work_status: 'closed' })
    expect((await eventsOf(ctx, into.reference)).at(-1)).toMatchObject({
      type: 'case.merged',
      actor: `agent:${a.id}`,
      data: { merge_id: body.merge_id, from_case: from.reference, message_ids: moved, delivery_ids: [movedDelivery] }
    })
    expect((await eventsOf(ctx, from.reference)).at(-1)).toMatchObject({ type: 'case.merged_into', data: { into_case: into.reference } })
    const [audit] = await ctx.query('select actor, reason, from_case, into_case from case_merges where id = $1', [body.merge_id])
    expect(audit).toEqual({ actor: `agent:${a.id}`, reason: 'Same missed collection, texted twice', from_case: from.id, into_case: into.id })
    // merging it again, or into it, is refused while it is merged
    expect((await post(`/v1/agent/cases/${from.reference}/merge`, a.auth, { into: into.reference, reason: 'again' })).json().code).toBe('already_merged')

    // a message that reached the survivor after the merge stays with it
    const later = await message(into.id, 'Thanks for sorting it')
    const undo = await post(`/v1/agent/merges/${body.merge_id}/undo`, a.auth)
    expect(undo.statusCode).toBe(200)
    expect(await messagesOf(into.id)).toEqual([survivorOwn, later])
    expect(await messagesOf(from.id)).toEqual(moved)
    expect(await deliveriesOf(into.id)).toEqual([survivorDelivery])
    expect(await deliveriesOf(from.id)).toEqual([movedDelivery, keptDelivery])
    expect(await caseOf(from.id)).toEqual({ merged_into: null, work_status: 'waiting_on_back_office' })
    expect((await eventsOf(ctx, from.reference)).at(-1)?.type).toBe('case.merge_undone')
    expect((await eventsOf(ctx, into.reference)).at(-1)?.type).toBe('case.merge_undone')
    const again = await post(`/v1/agent/merges/${body.merge_id}/undo`, a.auth)
    expect([again.statusCode, again.json().code]).toEqual([409, 'already_undone'])
  })

  it("is not found across partnerships, and another partnership's agent cannot undo a merge", async () => {
    const ours = await agent()
    const theirs = await agent('brent-lewisham', 'supervisor')
    const mine = await newCase()
    const other = await newCase({ partnership: 'brent-lewisham' })
    const msg = await message(other.id, 'Fly-tipping by the park')
    for (const [from, into, who] of [
      [other, mine, ours],
      [mine, other, ours],
      [mine, other, theirs]
    ] as const) {
      const res = await post(`/v1/agent/cases/${from.reference}/merge`, who.auth, { into: into.reference, reason: 'Duplicate' })
      expect(res.statusCode).toBe(404)
    }
    expect(await messagesOf(other.id)).toEqual([msg])
    expect((await caseOf(other.id)).merged_into).toBeNull()

    const second = await newCase()
    const merged = (await post(`/v1/agent/cases/${second.reference}/merge`, ours.auth, { into: mine.reference, reason: 'Duplicate' })).json()
    expect((await post(`/v1/agent/merges/${merged.merge_id}/undo`, theirs.auth)).statusCode).toBe(404)
    expect((await caseOf(second.id)).merged_into).toBe(mine.id)
  })

  it('refuses an undo after the window (409) and acts by another plain agent (403); a supervisor may undo', async () => {
    const a = await agent()
    const b = await agent()
    const boss = await agent('tri-borough', 'supervisor')
    const into = await newCase()
    const from = await newCase()
    const msg = await message(from.id, 'Streetlight out on Elm Road')
    const { merge_id } = (await post(`/v1/agent/cases/${from.reference}/merge`, a.auth, { into: into.reference, reason: 'Same streetlight' })).json()

    expect((await post(`/v1/agent/merges/${merge_id}/undo`, b.auth)).statusCode).toBe(403)
    // nor may another plain agent merge away a case someone else holds
    const held = await newCase()
    await ctx.query('update cases set assigned_agent_id = $1 where id = $2', [a.id, held.id])
    expect((await post(`/v1/agent/cases/${held.reference}/merge`, b.auth, { into: into.reference, reason: 'Duplicate' })).statusCode).toBe(403)
    expect((await caseOf(held.id)).merged_into).toBeNull()
    await ctx.query(`update case_merges set undo_until = clock_timestamp() - interval '1 second' where id = $1`, [merge_id])
    for (const who of [a, boss]) {
      const res = await post(`/v1/agent/merges/${merge_id}/undo`, who.auth)
      expect([res.statusCode, res.json().code]).toEqual([409, 'undo_window_passed'])
    }
    expect(await messagesOf(into.id)).toEqual([msg])

    const other = await newCase()
    const second = (await post(`/v1/agent/cases/${other.reference}/merge`, a.auth, { into: into.reference, reason: 'Same streetlight again' })).json()
    expect((await post(`/v1/agent/merges/${second.merge_id}/undo`, boss.auth)).statusCode).toBe(200)
    expect((await caseOf(other.id)).merged_into).toBeNull()
  })
})

describe('merging two residents', () => {
  it('joins residents of the partnership named by id or case reference, audited, and refuses to undo it', async () => {
    const a = await agent()
    const keep = await newCase()
    const gone = await newCase()
    await ctx.query(`insert into contact_points (kind, value, resident_id) values ('email', $1, $2)`, [`merge${Date.now()}@example.org`, gone.resident])
    const res = await post('/v1/agent/residents/merge', a.auth, { keep: keep.reference, merge: gone.resident, reason: 'Same person, texting and emailing' })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body).toMatchObject({ keep: keep.resident, merged: gone.resident, cases_moved: 1, points_moved: 1, undoable: false })
    const [audit] = await ctx.query('select from_resident, into_resident, actor, reason from resident_merges where id = $1', [body.merge_id])
    expect(audit).toEqual({ from_resident: gone.resident, into_resident: keep.resident, actor: `agent:${a.id}`, reason: 'Same person, texting and emailing' })
    expect((await ctx.query('select resident_id from cases where id = $1', [gone.id]))[0]).toEqual({ resident_id: keep.resident })
    expect((await eventsOf(ctx, gone.reference)).at(-1)).toMatchObject({ type: 'resident.merged', actor: `agent:${a.id}` })

    const undo = await post(`/v1/agent/residents/merges/${body.merge_id}/undo`, a.auth)
    expect([undo.statusCode, undo.json().code]).toEqual([409, 'undo_unavailable'])
    expect((await ctx.query('select resident_id from cases where id = $1', [gone.id]))[0]).toEqual({ resident_id: keep.resident })
  })

  it("will not touch another partnership's residents", async () => {
    const a = await agent()
    const theirs = await agent('brent-lewisham')
    const mine = await newCase()
    const other = await newCase({ partnership: 'brent-lewisham' })
    const res = await post('/v1/agent/residents/merge', a.auth, { keep: mine.reference, merge: other.resident, reason: 'Looks the same' })
    expect(res.statusCode).toBe(404)
    // a resident with cases in both partnerships: merging would regroup the other's cases
    const shared = await newCase()
    await newCase({ partnership: 'brent-lewisham', resident: shared.resident })
    const both = await post('/v1/agent/residents/merge', a.auth, { keep: mine.reference, merge: shared.reference, reason: 'Looks the same' })
    expect(both.statusCode).toBe(403)
    expect(await ctx.query('select 1 from resident_merges where from_resident = any($1::bigint[])', [[other.resident, shared.resident]])).toEqual([])

    const done = (await post('/v1/agent/residents/merge', a.auth, { keep: mine.resident, merge: (await newCase()).reference, reason: 'Same person' })).json()
    expect((await post(`/v1/agent/residents/merges/${done.merge_id}/undo`, theirs.auth)).statusCode).toBe(404)
  })
})
