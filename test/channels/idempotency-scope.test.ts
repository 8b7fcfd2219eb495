import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKey } from '../../src/councils/api-keys.js'
import { createTestContext, postContact, type TestContext } from '../helpers/context.js'
import { uid } from '../helpers/pipeline.js'
import { BRENT, WESTMINSTER } from '../helpers/councils.js'

// Issue 20, point 11: an Idempotency-Key belongs to its sender (the API key the request
// carries, else the email and phone given), as Stripe scopes keys by account. A stranger
// using the same key first neither blocks a resident's report nor is answered with it.

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({}, { mail: 'demo' })
})
afterAll(async () => {
  await ctx?.close()
})

const report = (email: string, description: string, extra: Record<string, unknown> = {}) => ({ name: 'A Resident', email, postcode: 'LE10 0FR', service_code: 'missed_bin', description, ...extra })
const send = (body: unknown, key: string, headers: Record<string, string> = {}) => postContact(ctx, body, { 'idempotency-key': key, ...headers })
const referenceOf = (res: { json(): unknown }) => (res.json() as { reference: string }).reference
const caseOf = async (reference: string) =>
  (await ctx.query<{ reported_email: string | null; reported_phone: string | null; description: string }>('select reported_email, reported_phone, description from cases where reference = $1', [reference]))[0]

describe('Idempotency-Key per sender', () => {
  it("gives each sender of the same key their own case: a stranger's earlier use neither blocks nor answers the resident", async () => {
    const key = `form-${uid()}`
    const stranger = await send(report(`stranger.${uid()}@example.net`, 'Not my bin, just my key'), key)
    expect(stranger.statusCode, stranger.body).toBe(202)
    const resident = await send(report(`resident.${uid()}@example.org`, 'My bin was missed on Tuesday'), key)
    expect(resident.statusCode, resident.body).toBe(202)
    expect(resident.headers['idempotent-replayed']).toBeUndefined()
    expect(referenceOf(resident)).not.toBe(referenceOf(stranger))
    expect((await caseOf(referenceOf(resident)))?.description).toBe('My bin was missed on Tuesday')

    // and the other way round: a stranger after the resident is not answered with the resident's case
    const later = await send(report(`stranger.${uid()}@example.net`, 'My bin was missed on Tuesday'), key)
    expect(later.statusCode, later.body).toBe(202)
    expect(later.headers['idempotent-replayed']).toBeUndefined()
    expect(referenceOf(later)).not.toBe(referenceOf(resident))
  })

  it('answers the same sender repeating with the same case, and refuses their key for another request (422)', async () => {
    const key = `form-${uid()}`
    const body = report(`repeat.${uid()}@example.org`, 'Green bin not emptied')
    const first = await send(body, key)
    const again = await send(body, key)
    expect(first.statusCode, first.body).toBe(202)
    expect(again.statusCode, again.body).toBe(202)
    expect(referenceOf(again)).toBe(referenceOf(first))
    expect(again.headers['idempotent-replayed']).toBe('true')

    const other = await send({ ...body, description: 'Something else entirely' }, key)
    expect(other.statusCode).toBe(422)
    expect(other.json()).toMatchObject({ code: 'idempotency_key_reused', field: 'idempotency-key' })
  })

  it('knows a sender by their email and phone as intake normalises them', async () => {
    const key = `form-${uid()}`
    const local = `case.${uid()}`
    expect((await send(report(`${local}@example.org`, 'Black bin missed'), key)).statusCode).toBe(202)
    // the same address in capitals is the same sender: their key, another request
    expect((await send(report(`${local.toUpperCase()}@EXAMPLE.ORG`, 'Blue bin missed'), key)).statusCode).toBe(422)

    const phoneKey = `form-${uid()}`
    const phone = { name: 'A Texter', phone: '07911 123456', postcode: 'LE10 0FR', service_code: 'missed_bin', description: 'Brown bin missed' }
    const byPhone = await send(phone, phoneKey)
    expect(byPhone.statusCode, byPhone.body).toBe(202)
    expect((await send({ ...phone, phone: '+447911123456', description: 'Brown bin still missed' }, phoneKey)).statusCode).toBe(422)
    const otherPhone = await send({ ...phone, phone: '07911 123457' }, phoneKey)
    expect(otherPhone.statusCode, otherPhone.body).toBe(202)
    expect(referenceOf(otherPhone)).not.toBe(referenceOf(byPhone))
    expect((await caseOf(referenceOf(otherPhone)))?.reported_phone).toBe('+447911123457')
  })

  it("scopes a council form's keys by its API key: its own key space, whoever the resident", async () => {
    const [westminster, brent] = await Promise.all([WESTMINSTER, BRENT].map(async (council) => (await createApiKey(ctx.infra.db, { council }, ['write'])).key))
    const key = `form-${uid()}`
    const body = report(`form.${uid()}@example.org`, 'Bin missed, reported through the council web form')
    const fromWestminster = await send(body, key, { authorization: `Bearer ${westminster}` })
    const fromBrent = await send(body, key, { authorization: `Bearer ${brent}` })
    const fromResident = await send(body, key)
    for (const res of [fromWestminster, fromBrent, fromResident]) expect(res.statusCode, res.body).toBe(202)
    expect(new Set([fromWestminster, fromBrent, fromResident].map(referenceOf)).size).toBe(3)
    // within one form's key space the key is the form's to keep unique, as with Stripe
    const retried = await send(body, key, { authorization: `Bearer ${westminster}` })
    expect(referenceOf(retried)).toBe(referenceOf(fromWestminster))
    const reused = await send(report(`another.${uid()}@example.org`, 'A different resident'), key, { authorization: `Bearer ${westminster}` })
    expect(reused.statusCode).toBe(422)
  })

  it('keeps the key the client chose out of storage', async () => {
    const key = `form-visible-${uid()}`
    expect((await send(report(`stored.${uid()}@example.org`, 'Recycling missed'), key)).statusCode).toBe(202)
    expect(await ctx.query(`select 1 from raw_inbound where provider_message_id like '%' || $1 || '%'`, [key])).toEqual([])
  })
})
