import { simpleParser } from 'mailparser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentSessions } from '../../src/agents/sessions.js'
import { feedbackSigner, ratingOf } from '../../src/feedback/csat.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { eventsOf, waitFor } from '../helpers/context.js'
import { createEmailContext, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'
import { ACCOUNT_SID, postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'
import { startTwilioApi, type TwilioApiStandIn } from '../helpers/twilio-api.js'

// The satisfaction question after resolution, through the real send worker (Twilio stand-in,
// SMTP sink), and the resident's answer by text or by the email's links.

const TRI_BOROUGH_NUMBER = '+447700900100'

let ctx: EmailContext
let api: TwilioApiStandIn
let auth: Record<string, string>
let agentId: number
beforeAll(async () => {
  api = await startTwilioApi()
  ctx = await createEmailContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN, TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_API_URL: api.url }, { workers: true })
  const [row] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, role, password_hash, capacity) values ('tri-borough', 'csat.agent@example.org', 'agent', 'not-a-hash', 50) returning id`
  )
  agentId = row!.id
  auth = { authorization: `Bearer ${await agentSessions(ctx.infra).sign({ agentId, partnershipId: 'tri-borough', role: 'agent' })}` }
})
afterAll(async () => {
  await ctx?.close()
  await api?.close()
})

const call = (method: 'POST' | 'PATCH', url: string, payload?: unknown) => ctx.app.inject({ method, url, headers: auth, ...(payload ? { payload } : {}) })
const text = (from: string, body: string) => postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: from, To: TRI_BOROUGH_NUMBER, Body: body }))
const placed = (ref: string) =>
  waitFor(async () => (await ctx.query('select 1 from cases where reference = $1 and partnership_id is not null', [ref])).length > 0, 10_000, `${ref} placed`)
const survey = async (ref: string) =>
  (await ctx.query<{ channel: string; score: number | null; agent_id: number; case_channel: string }>(
    'select s.channel, s.score, s.agent_id, s.case_channel from csat_surveys s join cases c on c.id = s.case_id where c.reference = $1',
    [ref]
  ))[0]

/** A case opened by a text, claimed, answered and resolved by the agent. */
async function resolvedTextCase(resident: string) {
  const res = await text(resident, 'The bins on Elm Road were not collected')
  const ref = /SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec(res.body)![0]
  await placed(ref)
  expect((await call('POST', `/v1/agent/cases/${ref}/claim`)).statusCode).toBe(200)
  expect((await call('PATCH', `/v1/agent/cases/${ref}`, { work_status: 'resolved' })).statusCode).toBe(200)
  return ref
}

describe('a resident who texted', () => {
  it('is asked once by text after resolution, and their "4" is recorded, thanked, and opens nothing', async () => {
    const resident = '+447911660001'
    const ref = await resolvedTextCase(resident)
    const asked = await waitFor(async () => api.texts.find((t) => t.params.To === resident && t.params.Body?.includes('How did we do?')), 10_000, 'the question')
    expect(asked.params.Body).toContain(ref)
    expect(await survey(ref)).toEqual({ channel: 'sms', score: null, agent_id: agentId, case_channel: 'sms' })

    const cases = (await ctx.query('select count(*)::int as n from cases'))[0]
    const answer = await text(resident, ' 4 ')
    expect(answer.statusCode).toBe(200)
    expect(answer.body).toContain('Thank you for your feedback.')
    expect((await survey(ref))!.score).toBe(4)
    expect((await ctx.query('select count(*)::int as n from cases'))[0]).toEqual(cases)
    const [c] = await ctx.query<{ work_status: string }>('select work_status from cases where reference = $1', [ref])
    expect(c!.work_status).toBe('resolved')
    expect((await eventsOf(ctx, ref)).filter((e) => e.type.startsWith('csat.')).map((e) => e.type)).toEqual(['csat.asked', 'csat.answered'])

    // a later "2" is a message, not a new rating; reopened and resolved again, nothing more is asked
    await text(resident, '2')
    expect((await survey(ref))!.score).toBe(4)
    expect((await call('PATCH', `/v1/agent/cases/${ref}`, { work_status: 'resolved' })).statusCode).toBe(200)
    expect(await ctx.query(`select 1 from messages m join cases c on c.id = m.case_id where c.reference = $1 and m.author = 'system:csat'`, [ref])).toHaveLength(1)
  })

  it('is never asked after texting STOP', async () => {
    const resident = '+447911660002'
    const res = await text(resident, 'Graffiti on the bus shelter')
    const ref = /SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec(res.body)![0]
    await placed(ref)
    await text(resident, 'STOP')
    await call('POST', `/v1/agent/cases/${ref}/claim`)
    expect((await call('PATCH', `/v1/agent/cases/${ref}`, { work_status: 'resolved' })).statusCode).toBe(200)
    expect(await survey(ref)).toBeUndefined()
    expect(await ctx.query(`select 1 from messages m join cases c on c.id = m.case_id where c.reference = $1 and m.author = 'system:csat'`, [ref])).toEqual([])
  })
})

describe('a resident who emailed', () => {
  async function resolvedMailCase(from: string, headers: Record<string, string> = {}) {
    const messageId = `<csat-${Date.now()}-${Math.random()}@mail.example.org>`
    await ctx.send({ from, to: TRI_BOROUGH_MAILBOX, subject: 'Overflowing bin', text: 'The bin outside 4 Elm Road is overflowing.', messageId, headers })
    const [c] = await ctx.query<{ reference: string }>(`select c.reference from raw_inbound r join cases c on c.id = r.case_id where r.payload->>'messageId' = $1`, [messageId])
    await placed(c!.reference)
    await call('POST', `/v1/agent/cases/${c!.reference}/claim`)
    const resolved = await call('PATCH', `/v1/agent/cases/${c!.reference}`, { work_status: 'resolved' })
    expect(resolved.statusCode, resolved.body).toBe(200)
    return c!.reference
  }

  it('gets five signed links; opening one rates nothing until its button is pressed; the first rating counts', async () => {
    const resident = `csat.${Date.now()}@example.org`
    const ref = await resolvedMailCase(resident)
    const mail = await waitFor(async () => {
      for (const m of ctx.mailSink!.messages.filter((x) => x.to.includes(resident))) {
        const parsed = await simpleParser(m.raw)
        if (parsed.subject?.startsWith('How did we do?')) return parsed
      }
      return null
    }, 10_000, 'the question mail')
    expect(mail.headers.get('auto-submitted')).toBeTruthy()
    const links = [...(mail.text ?? '').matchAll(/(https?:\/\/\S+\/v1\/feedback\/(\S+)\?score=([1-5]))/g)]
    expect(links.map((l) => l[3])).toEqual(['1', '2', '3', '4', '5'])
    const path = new URL(links[4]![1]!).pathname
    const opened = await ctx.app.inject({ method: 'GET', url: `${path}?score=5` })
    expect(opened.statusCode).toBe(200)
    expect(opened.body).toContain('Send my rating')
    expect((await survey(ref))!.score).toBeNull()

    const sent = await ctx.app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'score=5' })
    expect(sent.statusCode).toBe(200)
    expect(sent.body).toContain('Your rating has been recorded')
    expect((await survey(ref))!.score).toBe(5)
    const again = await ctx.app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'score=1' })
    expect(again.body).toContain('already have your rating')
    expect((await survey(ref))!.score).toBe(5)

    // a token for another case, or altered, is not recognised
    const token = links[0]![2]!
    const forged = token.replace(/^\d+/, (id) => String(Number(id) + 1))
    expect((await ctx.app.inject({ method: 'POST', url: `/v1/feedback/${forged}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'score=1' })).statusCode).toBe(404)
  })

  it('asks nothing when what came in was automatic mail', async () => {
    // automatic mail does not open cases by itself; a case whose first mail was one (say, a
    // system's notice an operator attached) is never sent the question
    const [c] = await ctx.query<{ id: number; reference: string }>(
      `with r as (insert into residents default values returning id)
       insert into cases (reference, resident_id, channel, partnership_id, council_gss, reported_email, contacted_address, work_status, assigned_agent_id)
       select $3, r.id, 'email', 'tri-borough', 'E09000033', 'noreply@system.example.org', $1, 'open', $2 from r
       returning id, reference`,
      [TRI_BOROUGH_MAILBOX, agentId, newCaseReference()]
    )
    await ctx.query(`insert into messages (case_id, direction, channel, body, kind) values ($1, 'inbound', 'email', 'I am out of the office', 'auto_reply')`, [c!.id])
    const resolved = await call('PATCH', `/v1/agent/cases/${c!.reference}`, { work_status: 'resolved' })
    expect(resolved.statusCode, resolved.body).toBe(200)
    expect(await survey(c!.reference)).toBeUndefined()
  })
})

describe('the pieces', () => {
  it('reads only a lone 1 to 5 as a rating', () => {
    expect(['4', ' 5. ', '1!', '3'].map(ratingOf)).toEqual([4, 5, 1, 3])
    expect(['0', '6', '45', '4 stars', 'four', ''].map(ratingOf)).toEqual([null, null, null, null, null, null])
  })

  it('signs a token for one case, refused with another secret', () => {
    const a = feedbackSigner('a'.repeat(40))
    const b = feedbackSigner('b'.repeat(40))
    expect(a.caseOf(a.token(42))).toBe(42)
    expect(b.caseOf(a.token(42))).toBeNull()
    expect(a.caseOf('42.short')).toBeNull()
  })
})
