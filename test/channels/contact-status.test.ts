import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, postContact, waitFor, type TestContext } from '../helpers/context.js'
import { LEICESTERSHIRE } from '../helpers/councils.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({}, { workers: true })
})
afterAll(async () => {
  await ctx?.close()
})

function status(reference: string, contact?: string) {
  const query = contact === undefined ? '' : `?contact=${encodeURIComponent(contact)}`
  return ctx.app.inject({ method: 'GET', url: `/v1/contacts/${reference}${query}` })
}

describe('GET /v1/contacts/{reference}', () => {
  it('shows the resident the stage, the council now handling it and the service', async () => {
    const { reference } = (await postContact(ctx, { email: 'dev@example.com', phone: '07911 123456', postcode: 'LE10 0FR', description: 'Pothole by the school' })).json()
    const body = await waitFor(async () => {
      const res = await status(reference, 'dev@example.com')
      const json = res.json()
      return res.statusCode === 200 && json.stage === 'with_back_office' ? json : null
    })
    expect(body).toMatchObject({
      reference,
      stage: 'with_back_office',
      council: { gss: LEICESTERSHIRE, name: 'Leicestershire County Council' },
      service: { code: 'pothole', name: 'Pothole or road defect' }
    })
    expect(body.stage_description).toContain('Leicestershire County Council (Highways)')
    // the phone number works too, in any format
    expect((await status(reference, '+44 7911 123456')).json().reference).toBe(reference)
    expect((await status(reference.toLowerCase(), 'DEV@example.com')).statusCode).toBe(200)
  })

  it('shows a case waiting for a person as in triage, with no council yet', async () => {
    const { reference } = (await postContact(ctx, { email: 'tri@example.com', postcode: 'SE12 8AA', service_code: 'missed_bin' })).json()
    const body = await waitFor(async () => {
      const json = (await status(reference, 'tri@example.com')).json()
      return json.stage === 'in_triage' ? json : null
    })
    expect(body.council).toBeNull()
    expect(body.service).toEqual({ code: 'missed_bin', name: 'Missed bin collection' })
  })

  it('answers 404 to anyone who does not know the contact used, the same as for an unknown reference', async () => {
    const { reference } = (await postContact(ctx, { email: 'private@example.com', postcode: 'SW1A 1AA', description: 'council tax' })).json()
    const wrong = await status(reference, 'someone.else@example.com')
    const unknown = await status('SB-0000-0000-0000', 'private@example.com')
    const garbage = await status(reference, 'not a contact')
    for (const res of [wrong, unknown, garbage]) {
      expect(res.statusCode).toBe(404)
      expect(res.json().code).toBe('not_found')
    }
    expect(wrong.json().message).toBe(unknown.json().message)
    expect((await status(reference)).statusCode).toBe(400)
  })
})
