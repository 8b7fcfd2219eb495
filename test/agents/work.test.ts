import Fastify from 'fastify'
import { simpleParser } from 'mailparser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentSessions } from '../../src/agents/sessions.js'
import type { AgentRole } from '../../src/agents/tokens.js'
import { WORK_TRANSITIONS, WORK_STATUSES, type WorkStatus } from '../../src/agents/work.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { validatorCompiler } from '../../src/lib/validator-compiler.js'
import { errorHandler } from '../../src/plugins/error-handler.js'
import { infraDecorators } from '../../src/plugins/infra.js'
import { agentRoutes } from '../../src/routes/agents/workspace.js'
import { eventsOf, waitFor } from '../helpers/context.js'
import { createEmailContext, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'
import { ACCOUNT_SID, postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'
import { startTwilioApi, type TwilioApiStandIn } from '../helpers/twilio-api.js'

// Working a case: claim, release, transfer, work statuses, replies on the resident's own
// channel (through the real send worker, to a Twilio stand-in and an SMTP sink), notes.

const TRI_BOROUGH_NUMBER = '+447700900100'

let ctx: EmailContext
let api: TwilioApiStandIn
let app: Awaited<ReturnType<typeof Fastify>>
beforeAll(async () => {
  api = await startTwilioApi()
  ctx = await createEmailContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN, TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_API_URL: api.url }, { workers: true })
  app = Fastify({ logger: false })
  app.setValidatorCompiler(validatorCompiler)
  await app.register(errorHandler)
  await app.register(infraDecorators, { infra: ctx.infra })
  await app.register(agentRoutes, { tokens: agentSessions(ctx.infra) })
  await app.ready()
})
afterAll(async () => {
  await app?.close()
  await ctx?.close()
  await api?.close()
})

let n = 0
async function agent(role: AgentRole = 'agent', capacity = 5) {
  const [row] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, role, password_hash, capacity) values ('tri-borough', $1, $2, 'not-a-hash', $3) returning id`,
    [`worker${++n}.${Date.now()}@example.org`, role, capacity]
  )
  const token = await agentSessions(ctx.infra).sign({ agentId: row!.id, partnershipId: 'tri-borough', role })
  return { id: row!.id, auth: { authorization: `Bearer ${token}` } }
}

async function webCase(workStatus: WorkStatus = 'new') {
  const reference = newCaseReference()
  await ctx.query(
    `with r as (insert into residents default values returning id)
     insert into cases (reference, resident_id, channel, partnership_id, council_gss, work_status) select $1, r.id, 'web', 'tri-borough', 'E09000033', $2 from r`,
    [reference, workStatus]
  )
  return reference
}

const call = (method: 'POST' | 'PATCH', url: string, auth: Record<string, string>, payload?: unknown) => app.inject({ method, url, headers: auth, ...(payload ? { payload } : {}) })
/** A case that came through a channel belongs to the partnership once the routing worker has placed it. */
const placed = (reference: string) =>
  waitFor(async () => (await ctx.query<{ partnership_id: string | null }>('select partnership_id from cases where reference = $1', [reference]))[0]?.partnership_id === 'tri-borough', 10_000, `${reference} placed`)
const caseOf = async (reference: string) =>
  (await ctx.query<{ id: number; work_status: string; assigned_agent_id: number | null; team_id: number | null; first_response_at: Date | null }>(
    'select id, work_status, assigned_agent_id, team_id, first_response_at from cases where reference = $1',
    [reference]
  ))[0]!

describe('claim, release, transfer', () => {
  it('claims only an unassigned case, releases it back to the queue, and records who did each', async () => {
    const [a, b] = [await agent(), await agent()]
    const ref = await webCase()
    expect((await call('POST', `/v1/agent/cases/${ref}/claim`, a.auth)).statusCode).toBe(200)
    expect(await caseOf(ref)).toMatchObject({ assigned_agent_id: a.id, work_status: 'open' })
    const taken = await call('POST', `/v1/agent/cases/${ref}/claim`, b.auth)
    expect(taken.statusCode).toBe(409)
    expect(taken.json().code).toBe('already_assigned')
    // another plain agent may not release it; its holder may
    expect((await call('POST', `/v1/agent/cases/${ref}/release`, b.auth)).statusCode).toBe(403)
    expect((await call('POST', `/v1/agent/cases/${ref}/release`, a.auth)).statusCode).toBe(204)
    expect((await caseOf(ref)).assigned_agent_id).toBeNull()
    expect((await call('POST', `/v1/agent/cases/${ref}/release`, a.auth)).json().code).toBe('not_assigned')
    const events = await eventsOf(ctx, ref)
    expect(events.map((e) => [e.type, e.actor])).toEqual([
      ['case.assigned', `agent:${a.id}`],
      ['case.released', `agent:${a.id}`]
    ])
  })

  it('transfers to an agent or a team with the reason recorded, and refuses one without a reason', async () => {
    const [a, b] = [await agent(), await agent()]
    const ref = await webCase()
    await call('POST', `/v1/agent/cases/${ref}/claim`, a.auth)
    expect((await call('POST', `/v1/agent/cases/${ref}/transfer`, a.auth, { agent_id: b.id })).statusCode).toBe(400)
    expect((await call('POST', `/v1/agent/cases/${ref}/transfer`, a.auth, { agent_id: b.id, reason: 'She knows this street' })).statusCode).toBe(204)
    expect((await caseOf(ref)).assigned_agent_id).toBe(b.id)

    const [housing] = await ctx.query<{ id: number }>(`insert into teams (partnership_id, name) values ('tri-borough', 'Housing') returning id`)
    expect((await call('POST', `/v1/agent/cases/${ref}/transfer`, b.auth, { team_id: housing!.id, reason: 'A housing repair' })).statusCode).toBe(204)
    expect(await caseOf(ref)).toMatchObject({ assigned_agent_id: null, team_id: housing!.id })
    const [theirs] = await ctx.query<{ id: number }>(`insert into teams (partnership_id, name) values ('brent-lewisham', 'Theirs') returning id`)
    expect((await call('POST', `/v1/agent/cases/${ref}/transfer`, b.auth, { team_id: theirs!.id, reason: 'x' })).statusCode).toBe(400)

    const transfers = (await eventsOf(ctx, ref)).filter((e) => e.type === 'case.transferred')
    expect(transfers.map((e) => [e.actor, e.reason])).toEqual([
      [`agent:${a.id}`, 'She knows this street'],
      [`agent:${b.id}`, 'A housing repair']
    ])
  })

  it('will not transfer to an agent at capacity', async () => {
    const a = await agent()
    const full = await agent('agent', 1)
    const [mine, theirs] = [await webCase(), await webCase()]
    await call('POST', `/v1/agent/cases/${theirs}/claim`, full.auth)
    await call('POST', `/v1/agent/cases/${mine}/claim`, a.auth)
    const res = await call('POST', `/v1/agent/cases/${mine}/transfer`, a.auth, { agent_id: full.id, reason: 'Over to you' })
    expect(res.statusCode).toBe(409)
    expect(res.json().code).toBe('at_capacity')
    expect((await caseOf(mine)).assigned_agent_id).toBe(a.id)
  })
})

describe('work statuses', () => {
  it('allows exactly the transitions of the table, and only a supervisor reopens a closed case', async () => {
    const a = await agent()
    const boss = await agent('supervisor')
    for (const from of WORK_STATUSES) {
      for (const to of WORK_STATUSES) {
        const ref = await webCase(from)
        const res = await call('PATCH', `/v1/agent/cases/${ref}`, a.auth, { work_status: to })
        const allowed = WORK_TRANSITIONS[from].includes(to) && from !== 'closed'
        expect([from, to, res.statusCode]).toEqual([from, to, allowed ? 200 : 409])
        expect((await caseOf(ref)).work_status).toBe(allowed ? to : from)
        if (!allowed) expect(res.json().code).toBe('invalid_transition')
        else expect((await eventsOf(ctx, ref)).at(-1)).toMatchObject({ type: 'case.work_status_changed', actor: `agent:${a.id}`, data: { from, to } })
      }
    }
    const closed = await webCase('closed')
    expect((await call('PATCH', `/v1/agent/cases/${closed}`, boss.auth, { work_status: 'open' })).statusCode).toBe(200)
    expect((await call('PATCH', `/v1/agent/cases/${closed}`, a.auth, { work_status: 'bogus' })).statusCode).toBe(400)
  })

  it('reopens a case left waiting on the resident when they text again (migration 015), and leaves a closed one closed', async () => {
    const a = await agent()
    const resident = '+447911550002'
    const text = (body: string) => postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: resident, To: TRI_BOROUGH_NUMBER, Body: body }))
    const ref = /SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec((await text('Graffiti on the bus shelter')).body)![0]
    await placed(ref)
    await call('POST', `/v1/agent/cases/${ref}/claim`, a.auth)
    await call('POST', `/v1/agent/cases/${ref}/replies`, a.auth, { body: 'Which bus shelter?' })
    expect((await caseOf(ref)).work_status).toBe('waiting_on_resident')
    await text('The one on Elm Road')
    expect((await caseOf(ref)).work_status).toBe('open')
    expect((await eventsOf(ctx, ref)).map((e) => e.type)).toContain('case.reopened')
    await call('PATCH', `/v1/agent/cases/${ref}`, a.auth, { work_status: 'resolved' })
    await call('PATCH', `/v1/agent/cases/${ref}`, a.auth, { work_status: 'closed' })
    await text('Thanks!')
    expect((await caseOf(ref)).work_status).toBe('closed')
  })
})

describe('replies and notes', () => {
  it("replies by SMS to a case that came by text, and the case waits on the resident", async () => {
    const a = await agent()
    const resident = '+447911550001'
    const res = await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: resident, To: TRI_BOROUGH_NUMBER, Body: 'Fly-tipping behind the shops' }))
    const ref = /SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec(res.body)![0]
    await placed(ref)
    await call('POST', `/v1/agent/cases/${ref}/claim`, a.auth)
    const replied = await call('POST', `/v1/agent/cases/${ref}/replies`, a.auth, { body: 'A crew will clear it today.' })
    expect(replied.statusCode, replied.body).toBe(202)
    const sent = await waitFor(async () => api.texts.find((t) => t.params.To === resident && t.params.Body === 'A crew will clear it today.'), 10_000, 'the text')
    expect(sent.params.From).toBe(TRI_BOROUGH_NUMBER)
    const after = await caseOf(ref)
    expect(after.work_status).toBe('waiting_on_resident')
    expect(after.first_response_at).not.toBeNull()
    const [message] = await ctx.query<{ author: string }>('select author from messages where id = $1', [replied.json().message_id])
    expect(message!.author).toBe(`agent:${a.id}`)
  })

  it('replies by email on the thread of the mail the resident sent, and a second reply keeps the first response time', async () => {
    const a = await agent()
    const resident = `resident.${Date.now()}@example.org`
    const messageId = `<first-${Date.now()}@mail.example.org>`
    await ctx.send({ from: resident, to: TRI_BOROUGH_MAILBOX, subject: 'Broken streetlight', text: 'The light outside 4 Elm Road is out.', messageId })
    const [c] = await ctx.query<{ reference: string }>(`select c.reference from raw_inbound r join cases c on c.id = r.case_id where r.payload->>'messageId' = $1`, [messageId])
    const ref = c!.reference
    await placed(ref)
    expect((await call('POST', `/v1/agent/cases/${ref}/replies`, a.auth, { body: 'Thank you; an engineer is booked.' })).statusCode).toBe(202)
    const reply = await waitFor(async () => {
      for (const m of ctx.mailSink!.messages.filter((x) => x.to.includes(resident))) {
        const mail = await simpleParser(m.raw)
        if (mail.text?.includes('an engineer is booked')) return mail
      }
      return null
    }, 10_000, 'the reply mail')
    expect(reply.inReplyTo).toBe(messageId)
    expect(reply.references).toContain(messageId)
    expect(reply.subject).toContain(ref)
    const first = (await caseOf(ref)).first_response_at
    await call('POST', `/v1/agent/cases/${ref}/replies`, a.auth, { body: 'And it is fixed.' })
    expect((await caseOf(ref)).first_response_at).toEqual(first)
  })

  it('keeps an internal note as an event only, sending nothing', async () => {
    const a = await agent()
    const ref = await webCase()
    const res = await call('POST', `/v1/agent/cases/${ref}/notes`, a.auth, { body: 'Resident sounded distressed; call back.' })
    expect(res.statusCode).toBe(201)
    expect((await eventsOf(ctx, ref)).at(-1)).toMatchObject({ type: 'note.internal', actor: `agent:${a.id}`, data: { note: 'Resident sounded distressed; call back.' } })
    expect(await ctx.query('select 1 from messages m join cases c on c.id = m.case_id where c.reference = $1', [ref])).toEqual([])
  })
})
