import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { agentSessions } from '../../src/agents/sessions.js'
import { createTestContext, OPERATOR_KEY, waitFor, type TestContext } from '../helpers/context.js'
import { startReceiver, type Receiver } from '../helpers/delivery.js'
import { BLABY, HINCKLEY } from '../helpers/councils.js'
import { subscribe } from '../webhooks/webhooks-helpers.js'
import { expectError, get, keyFor, parseXml, postForm, report } from './helpers.js'

// FixMyStreet posts its users' comments to POST servicerequestupdates: in mySociety's
// extension they are the public's, not the council's. A comment is a message on the case
// (seen by agents, sent to council webhooks as any resident's follow-up), its status the
// commenter's view: the case's status stays, nothing goes to the resident, and GET
// servicerequestupdates lists only the council's own updates.

const RESIDENT = 'bins.resident@example.org'

let ctx: TestContext
let fmsKey: string
let otherClientKey: string
let councilApi: string
let hook: Receiver
let liveUrl: string
const sockets: WebSocket[] = []

beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
  fmsKey = await keyFor(ctx, HINCKLEY)
  otherClientKey = await keyFor(ctx, HINCKLEY)
  councilApi = await keyFor(ctx, HINCKLEY, ['read', 'write'])
  hook = await startReceiver(() => 200)
  await subscribe(ctx, councilApi, { url: hook.url, events: ['case.updated', 'message.created'] })
  liveUrl = (await ctx.app.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws')
})
afterAll(async () => {
  for (const s of sockets) s.terminate()
  await hook?.close()
  await ctx?.close()
})

/** updated_datetime as FixMyStreet writes it: seconds, and +00:00 rather than Z. */
const fmsTime = (d = new Date()) => `${d.toISOString().slice(0, 19)}+00:00`

/** A comment as FixMyStreet posts it (extended statuses on, extended updates off); a null in `extra` leaves that field out. */
const comment = (ref: string, extra: Record<string, string | null> = {}, fmt: 'json' | 'xml' = 'json', key = fmsKey) => {
  const form: Record<string, string | null> = {
    api_key: key,
    jurisdiction_id: HINCKLEY,
    service_request_id: ref,
    update_id: '7001',
    updated_datetime: fmsTime(),
    status: 'FIXED',
    description: 'Collected at last.\r\nThanks to the crew.',
    email: 'Pat.Commenter@Example.org',
    first_name: 'Pat',
    last_name: 'Commenter',
    title: 'MS',
    media_url: 'https://www.fixmystreet.com/photo/c/7001.full.jpeg',
    email_alerts_requested: 'FALSE',
    ...extra
  }
  return postForm(ctx, `/servicerequestupdates.${fmt}`, Object.fromEntries(Object.entries(form).filter((e): e is [string, string] => e[1] !== null)))
}

/** A missed bin reported through Open311 with the resident's email, once with the back office. */
async function binCase(email = RESIDENT) {
  const reference = await report(ctx, fmsKey, { jurisdiction_id: HINCKLEY, service_code: 'missed_bin', address_string: 'LE10 0AA', 'attribute[bin_type]': 'food', email })
  await waitFor(async () => (await caseOf(reference))?.status === 'with_back_office', 15_000, `case ${reference} with the back office`)
  return reference
}

async function caseOf(reference: string) {
  const [row] = await ctx.query<{ id: number; status: string; back_office_status: string | null; status_notes: string | null; work_status: string; partnership_id: string }>(
    'select id, status, back_office_status, status_notes, work_status, partnership_id from cases where reference = $1',
    [reference]
  )
  return row
}

const outboundCount = async (reference: string) =>
  Number((await ctx.query<{ n: string }>(`select count(*) as n from messages m join cases c on c.id = m.case_id where c.reference = $1 and m.direction = 'outbound'`, [reference]))[0]!.n)

/** An agent of the partnership, connected to the live view. */
async function liveAgent(partnership: string) {
  const [row] = await ctx.query<{ id: number }>(`insert into agents (partnership_id, email, role, password_hash) values ($1, $2, 'agent', 'not-a-login') returning id`, [
    partnership,
    `agent.${Date.now()}@switchboard.test`
  ])
  const token = await agentSessions(ctx.infra).sign({ agentId: row!.id, partnershipId: partnership, role: 'agent' })
  const received: { type: string; case?: { reference?: string } }[] = []
  const ws = new WebSocket(`${liveUrl}/v1/agent/stream`, { headers: { authorization: `Bearer ${token}` } })
  sockets.push(ws)
  ws.on('message', (data) => received.push(JSON.parse(String(data)) as (typeof received)[number]))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return received
}

const window = () => ({ start_date: new Date(Date.now() - 3600_000).toISOString(), end_date: new Date(Date.now() + 3600_000).toISOString() })

describe("a FixMyStreet user's comment", () => {
  it("is the commenter's message on the case, never the council's status: nothing changes, nothing goes to the resident", async () => {
    const reference = await binCase()
    const before = (await caseOf(reference))!
    const sentBefore = await outboundCount(reference)
    const live = await liveAgent(before.partnership_id)

    const res = await comment(reference)
    expect(res.statusCode, res.body).toBe(200)
    expect(JSON.parse(res.body)).toEqual([{ update_id: '7001' }])

    // the case is as it was: not resolved, the back office's status and notes untouched
    expect(await caseOf(reference)).toMatchObject({ status: 'with_back_office', back_office_status: before.back_office_status, status_notes: before.status_notes })
    // nothing queued for the resident (every message to them is a row here before it is sent)
    expect(await outboundCount(reference)).toBe(sentBefore)

    // an inbound message from the commenter, as the channel gave it: their words with LF line ends
    const messages = await ctx.query<{ id: number; direction: string; channel: string; body: string; sender: string; kind: string | null }>(
      `select m.id, m.direction, m.channel, m.body, m.sender, m.kind from messages m join cases c on c.id = m.case_id
        where c.reference = $1 and m.provider_message_id like 'servicerequestupdate:%'`,
      [reference]
    )
    expect(messages).toEqual([
      {
        id: expect.any(Number),
        direction: 'inbound',
        channel: 'open311',
        body: 'Collected at last.\nThanks to the crew.\nPhoto: https://www.fixmystreet.com/photo/c/7001.full.jpeg\nStatus sent with this comment: fixed',
        sender: 'pat.commenter@example.org',
        kind: null
      }
    ])
    // kept as the commenter's update: their status, their words, the message it is
    const updates = await ctx.query<{ author: string; status: string; description: string; message_id: number; for_resident: boolean; source: string }>(
      'select u.author, u.status, u.description, u.message_id, u.for_resident, u.source from case_updates u where u.case_id = $1',
      [before.id]
    )
    expect(updates).toEqual([{ author: 'public', status: 'fixed', description: 'Collected at last.\nThanks to the crew.', message_id: messages[0]!.id, for_resident: false, source: expect.stringMatching(/^open311:\d+$/) }])
    // the commenter's email is a claim: it is nobody's contact point for it
    expect(await ctx.query(`select 1 from contact_points where value = 'pat.commenter@example.org'`)).toEqual([])

    // agents see it arrive live, as any resident's message
    await waitFor(async () => live.some((e) => e.type === 'message.created' && e.case?.reference === reference), 10_000, 'the message on the live view')
    // and in the case's messages
    const listed = await ctx.app.inject({ method: 'GET', url: `/v1/admin/cases/${reference}/messages`, headers: { authorization: `Bearer ${OPERATOR_KEY}` } })
    expect(listed.statusCode, listed.body).toBe(200)
    expect((listed.json() as { body: string }[]).map((m) => m.body)).toContain(messages[0]!.body)

    // the council's system hears of it as a resident's follow-up: message.created, not case.updated
    const heard = await waitFor(
      async () => {
        const bodies = hook.requests.map((r) => JSON.parse(r.body) as { type: string; data: { case: { reference: string; status: string }; event: { actor: string; data: Record<string, unknown> } } })
        return bodies.find((b) => b.type === 'message.created' && b.data.case.reference === reference && b.data.event.data.thread === 'open311 update')
      },
      15_000,
      'the message.created webhook'
    )
    expect(heard.data.event.actor).toBe('intake:open311')
    expect(heard.data.case.status).toBe('with_back_office')
    // its words and the commenter's details stay out of the webhook, as for any message
    const raw = hook.requests.map((r) => r.body).join('\n')
    expect(raw).not.toContain('pat.commenter@example.org')
    expect(raw).not.toContain('Collected at last')

    // GET servicerequestupdates lists the council's updates only
    const empty = await get(ctx, '/servicerequestupdates.json', { api_key: fmsKey, jurisdiction_id: HINCKLEY, ...window() })
    expect(JSON.parse(empty.body)).toEqual([])
    const council = await ctx.app.inject({
      method: 'POST',
      url: `/v1/cases/${reference}/updates`,
      headers: { authorization: `Bearer ${councilApi}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ status: 'fixed', description: 'Collected on Thursday.', for_resident: true, update_id: '7001' })
    })
    expect(council.statusCode, council.body).toBe(201)
    expect(council.json()).toMatchObject({ applied: true, resident_told_by: 'email' })
    const listedUpdates = JSON.parse((await get(ctx, '/servicerequestupdates.json', { api_key: fmsKey, jurisdiction_id: HINCKLEY, ...window() })).body) as { description: string; status: string }[]
    expect(listedUpdates).toEqual([expect.objectContaining({ update_id: '7001', service_request_id: reference, status: 'fixed', description: 'Collected on Thursday.' })])
    expect(await caseOf(reference)).toMatchObject({ status: 'resolved', back_office_status: 'fixed' })

    // the resident gets the council's word only: once it has arrived, it is the only mail to them
    const toResident = await waitFor(async () => {
      const mails = ctx.mailSink!.messages.filter((m) => m.to.includes(RESIDENT))
      return mails.length ? mails : null
    }, 15_000, "the council's update to reach the resident")
    expect(toResident).toHaveLength(1)
    expect(toResident[0]!.raw.toString('utf8')).toContain('Collected on Thursday.')
    expect(toResident[0]!.raw.toString('utf8')).not.toContain('Collected at last')
  })

  it('answers in XML as FixMyStreet reads it, and takes update_id_ext when extended updates send no update_id', async () => {
    const reference = await binCase('xml.resident@example.org')
    const extended = { update_id: null, update_id_ext: '8123', service_request_id_ext: '4411', public_anonymity_required: 'TRUE', status: 'OPEN', description: 'Still not collected' }
    const res = await comment(reference, extended, 'xml')
    expect(res.statusCode, res.body).toBe(200)
    expect(parseXml(res).service_request_updates.request_update).toEqual([{ update_id: '8123' }])
    const [row] = await ctx.query<{ update_id: string; status: string }>(`select u.update_id, u.status from case_updates u join cases c on c.id = u.case_id where c.reference = $1`, [reference])
    expect(row).toEqual({ update_id: '8123', status: 'open' })
    expect(await caseOf(reference)).toMatchObject({ status: 'with_back_office' })
  })
})

describe('update_id', () => {
  it('is unique per client and request: the same id on two cases is two comments, twice on one case is one', async () => {
    const [first, second] = [await binCase('one@example.org'), await binCase('two@example.org')]
    const common = { update_id: 'fms-55', status: 'OPEN', media_url: null }
    for (const [ref, words] of [[first, 'Bin still full'], [second, 'Bin still full too']] as const) {
      const res = await comment(ref, { ...common, description: words })
      expect(res.statusCode, res.body).toBe(200)
      expect(JSON.parse(res.body)).toEqual([{ update_id: 'fms-55' }])
    }
    // the same comment again on the first case: answered alike, nothing added
    const again = await comment(first, { ...common, description: 'Bin still full' })
    expect(again.statusCode).toBe(200)
    expect(JSON.parse(again.body)).toEqual([{ update_id: 'fms-55' }])

    const stored = async () =>
      ctx.query<{ reference: string; description: string; body: string }>(
        `select c.reference, u.description, m.body from case_updates u join cases c on c.id = u.case_id join messages m on m.id = u.message_id
          where u.update_id = 'fms-55' order by u.id`
      )
    expect(await stored()).toEqual([
      { reference: first, description: 'Bin still full', body: 'Bin still full' },
      { reference: second, description: 'Bin still full too', body: 'Bin still full too' }
    ])
    const inbound = async (ref: string) =>
      (await ctx.query(`select 1 from messages m join cases c on c.id = m.case_id where c.reference = $1 and m.direction = 'inbound'`, [ref])).length
    expect(await inbound(first)).toBe(2) // the report and one comment

    // another client of the same council has ids of its own
    expect((await comment(first, { ...common, description: 'From another app' }, 'json', otherClientKey)).statusCode).toBe(200)
    expect((await stored()).map((r) => r.reference)).toEqual([first, second, first])
    expect(await inbound(first)).toBe(3)
  })
})

describe("the commenter's status", () => {
  it('reopens work the contact centre resolved only when it says the problem is not finished', async () => {
    const reference = await binCase('reopen@example.org')
    const { id } = (await caseOf(reference))!
    const reopened = async () => (await ctx.query(`select 1 from case_events where case_id = $1 and type = 'case.reopened'`, [id])).length
    await ctx.query(`update cases set work_status = 'resolved' where id = $1`, [id])

    for (const [n, status] of [[1, 'FIXED'], [2, 'CLOSED']] as const) {
      expect((await comment(reference, { update_id: `done-${n}`, status, description: 'All sorted now' })).statusCode).toBe(200)
      expect(await caseOf(reference)).toMatchObject({ work_status: 'resolved', status: 'with_back_office' })
    }
    expect(await reopened()).toBe(0)

    expect((await comment(reference, { update_id: 'back-1', status: 'REOPEN', description: 'It is back again' })).statusCode).toBe(200)
    expect(await caseOf(reference)).toMatchObject({ work_status: 'open', status: 'with_back_office' })
    expect(await reopened()).toBe(1)
    // each was kept as a comment all the same
    expect((await ctx.query<{ status: string }>('select status from case_updates where case_id = $1 order by id', [id])).map((r) => r.status)).toEqual(['fixed', 'closed', 'reopen'])
  })

  it('refuses a status outside the extension, a comment without an id, and a request of another council', async () => {
    const reference = await binCase('refused@example.org')
    expectError(await comment(reference, { update_id: 'r1', status: 'SORTED' }), 400)
    expectError(await comment(reference, { update_id: '' }), 400)
    expectError(await comment(reference, { update_id: 'r2', jurisdiction_id: BLABY }), 403)
    expectError(await comment('SB-0000-0000-0000', { update_id: 'r3' }), 404)
    expect(await ctx.query(`select 1 from case_updates u join cases c on c.id = u.case_id where c.reference = $1`, [reference])).toEqual([])
  })
})
