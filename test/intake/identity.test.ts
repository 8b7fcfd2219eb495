import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { intakeContact } from '../../src/intake/intake.js'
import { mergeResidents } from '../../src/residents/merge-residents.js'
import { AppError } from '../../src/errors.js'
import { createTestContext, eventsOf, postContact, type TestContext } from '../helpers/context.js'
import { startReceiver, useWebhookDestination, waitDelivery, type Receiver } from '../helpers/delivery.js'
import { inbound } from '../helpers/pipeline.js'
import { WESTMINSTER } from '../helpers/councils.js'

// Identity rests on proof: a contact point typed into a form is a claim, which may link a
// case to a resident but never attaches, renames or merges; a point the channel proved
// (a Twilio-signed text) ties a contact to whoever proved it.

const SECRET = 'whsec_identity_test_0123456789abcdef'

let ctx: TestContext
let receiver: Receiver
beforeAll(async () => {
  ctx = await createTestContext()
  receiver = await startReceiver(() => 200)
  // council-tax cases in Westminster go to a webhook, so the test sees what the council gets
  await useWebhookDestination(ctx, { council: WESTMINSTER, service: 'council_tax', url: receiver.url, secret: SECRET, team: 'Revenues' })
})
afterAll(async () => {
  await receiver?.close()
  await ctx?.close()
})

const unique = () => randomUUID().slice(0, 8)
const status = (reference: string, contact: string) => ctx.app.inject({ method: 'GET', url: `/v1/contacts/${reference}?contact=${encodeURIComponent(contact)}` })

async function report(body: Record<string, unknown>) {
  const res = await postContact(ctx, { postcode: 'SW1A 1AA', service_code: 'council_tax', description: 'My council tax bill is wrong', ...body })
  expect(res.statusCode, res.body).toBe(202)
  return (res.json() as { reference: string }).reference
}

async function residentOf(reference: string) {
  const [row] = await ctx.query<{ id: number; display_name: string | null }>(
    'select r.id, r.display_name from cases c join residents r on r.id = c.resident_id where c.reference = $1',
    [reference]
  )
  return row!
}

async function pointsOf(residentId: number) {
  return ctx.query<{ kind: string; value: string; verified: boolean }>('select kind, value, verified from contact_points where resident_id = $1 order by kind', [residentId])
}

/** The body the council's webhook received for this case. */
function deliveredBody(reference: string) {
  const req = receiver.requests.find((r) => (JSON.parse(r.body) as { case: { reference: string } }).case.reference === reference)
  expect(req, `no delivery of ${reference}`).toBeDefined()
  return JSON.parse(req!.body) as { case: { resident: { name: string | null; email: string | null; phone: string | null } } }
}

describe('a stranger who claims a resident’s email', () => {
  it('cannot open the resident’s case with their own phone, and the council gets the resident’s details', async () => {
    const email = `rita.${unique()}@example.com`
    const stranger = '+447911000111'
    // 1. the resident reports
    const residentRef = await report({ name: 'Rita Resident', email })
    const before = await residentOf(residentRef)
    // 2. a stranger posts the resident's email with their own phone and name
    const strangerRef = await report({ name: 'Stan Stranger', email, phone: '07911 000111', description: 'Something else about council tax' })

    // 3. the stranger looks the resident's case up with their phone: nothing to see
    const lookup = await status(residentRef, stranger)
    expect(lookup.statusCode).toBe(404)
    expect(lookup.json().code).toBe('not_found')
    // the resident's own email still opens it
    expect((await status(residentRef, email)).statusCode).toBe(200)

    // the resident's record is as it was: same name, no stranger's phone attached
    const after = await residentOf(residentRef)
    expect(after).toEqual(before)
    expect(after.display_name).toBe('Rita Resident')
    expect(await pointsOf(after.id)).toEqual([{ kind: 'email', value: email, verified: false }])
    expect(await ctx.query('select 1 from contact_points where value = $1', [stranger])).toHaveLength(0)

    // the claim may link the stranger's case for agents, but the case keeps what it was reported with
    expect((await residentOf(strangerRef)).id).toBe(before.id)

    // the workers start only now, so both deliveries are built after the stranger's post
    await ctx.startWorkers()
    await waitDelivery(ctx, residentRef, ['delivered'])
    await waitDelivery(ctx, strangerRef, ['delivered'])
    expect(deliveredBody(residentRef).case.resident).toEqual({ name: 'Rita Resident', email, phone: null })
    expect(deliveredBody(strangerRef).case.resident).toEqual({ name: 'Stan Stranger', email, phone: stranger })
  })

  it('does not rename the resident, and cannot add messages to their case by quoting its reference', async () => {
    const email = `nina.${unique()}@example.com`
    const ref = await report({ name: 'Nina Original', email })
    const resident = await residentOf(ref)
    // the same email claimed again with another name: the case keeps the new name, the resident keeps hers
    const again = await report({ name: 'Someone Else', email })
    expect((await residentOf(again)).display_name).toBe('Nina Original')
    expect((await ctx.query<{ reported_name: string }>('select reported_name from cases where reference = $1', [again]))[0]!.reported_name).toBe('Someone Else')

    // quoting her reference with another contact opens a new case instead of writing on hers
    const intruder = await report({ email: `intruder.${unique()}@example.com`, reference: ref, description: 'Please cancel my direct debit' })
    expect(intruder).not.toBe(ref)
    const [messages] = await ctx.query<{ n: number }>('select count(*)::int as n from messages m join cases c on c.id = m.case_id where c.reference = $1', [ref])
    expect(messages!.n).toBe(1)

    // she can add to her own case with her own email
    const follow = await report({ email, reference: ref, description: 'And the bill arrived late' })
    expect(follow).toBe(ref)
    expect((await residentOf(ref)).id).toBe(resident.id)
  })
})

describe('a point the channel proved', () => {
  /** A text from `phone` as the SMS channel will hand it over: Twilio signed it, so the number is proven. */
  const text = (phone: string, body: string) =>
    intakeContact(
      ctx.infra.db,
      inbound({
        channel: 'sms',
        provider: 'twilio',
        providerMessageId: `SM${unique()}${unique()}`,
        sender: { name: null, email: null, phone, raw: phone, verified: { phone: true } },
        recipient: '+447700900999',
        text: body
      })
    )

  it('belongs to whoever proved it, never to someone who only claimed it on a form', async () => {
    const phone = '+447911000222'
    // someone types this number into the web form
    const claimRef = await report({ name: 'Claimant', email: `claim.${unique()}@example.com`, phone })
    const claimant = await residentOf(claimRef)
    expect((await pointsOf(claimant.id)).map((p) => [p.kind, p.verified])).toEqual([['email', false], ['phone', false]])

    // the number's owner texts: a new resident, who now holds the number, proven
    const first = await text(phone, 'Bin not collected')
    const owner = await residentOf(first.reference)
    expect(owner.id).not.toBe(claimant.id)
    expect(await pointsOf(owner.id)).toEqual([{ kind: 'phone', value: phone, verified: true }])
    expect(await pointsOf(claimant.id)).toEqual([expect.objectContaining({ kind: 'email' })])

    // a second text from the number is the same resident
    const second = await text(phone, 'Still not collected')
    expect((await residentOf(second.reference)).id).toBe(owner.id)
    // and a later claim of the number on a form links to the owner but changes nothing of theirs
    const laterClaim = await report({ name: 'Another Claimant', phone: '07911 000222' })
    expect((await residentOf(laterClaim)).id).toBe(owner.id)
    expect((await residentOf(laterClaim)).display_name).toBeNull()
    expect(await pointsOf(owner.id)).toEqual([{ kind: 'phone', value: phone, verified: true }])

    // the claimant's case still opens with the number it was reported with, and no other
    expect((await status(claimRef, phone)).statusCode).toBe(200)
    expect((await status(first.reference, phone)).statusCode).toBe(200)
  })
})

describe('merging residents', () => {
  it('is an explicit act that moves cases and points, recorded with who and why', async () => {
    const email = `merge.${unique()}@example.com`
    const phone = '+447911000333'
    const webRef = await report({ name: 'Mo Merge', email })
    const smsRef = (
      await intakeContact(
        ctx.infra.db,
        inbound({ channel: 'sms', provider: 'twilio', providerMessageId: `SM${unique()}`, sender: { name: null, email: null, phone, raw: phone, verified: { phone: true } }, text: 'hello' })
      )
    ).reference
    const into = await residentOf(webRef)
    const from = await residentOf(smsRef)
    expect(from.id).not.toBe(into.id)

    await expect(mergeResidents(ctx.infra.db, { fromResidentId: from.id, intoResidentId: into.id, actor: 'agent:7', reason: ' ' })).rejects.toBeInstanceOf(AppError)
    await expect(mergeResidents(ctx.infra.db, { fromResidentId: into.id, intoResidentId: into.id, actor: 'agent:7', reason: 'same' })).rejects.toBeInstanceOf(AppError)

    const result = await mergeResidents(ctx.infra.db, { fromResidentId: from.id, intoResidentId: into.id, actor: 'agent:7', reason: 'Confirmed by phone: same person texting and emailing' })
    expect(result).toMatchObject({ casesMoved: 1, pointsMoved: 1 })
    expect((await residentOf(smsRef)).id).toBe(into.id)
    expect((await pointsOf(into.id)).map((p) => [p.kind, p.verified])).toEqual([['email', false], ['phone', true]])
    const [merge] = await ctx.query('select from_resident, into_resident, actor, reason from resident_merges where id = $1', [result.mergeId])
    expect(merge).toEqual({ from_resident: from.id, into_resident: into.id, actor: 'agent:7', reason: 'Confirmed by phone: same person texting and emailing' })
    const event = (await eventsOf(ctx, smsRef)).find((e) => e.type === 'resident.merged')
    expect(event).toMatchObject({ actor: 'agent:7', reason: expect.stringContaining('same person texting and emailing') })
    // a merge groups; it does not widen who may open a case
    expect((await status(webRef, phone)).statusCode).toBe(404)
    // and the resident merged away cannot be merged again
    await expect(mergeResidents(ctx.infra.db, { fromResidentId: from.id, intoResidentId: into.id, actor: 'agent:7', reason: 'again' })).rejects.toBeInstanceOf(AppError)
  })
})
