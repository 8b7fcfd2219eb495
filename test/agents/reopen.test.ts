import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN })
})
afterAll(async () => {
  await ctx?.close()
})

const text = (from: string, body: string) => postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: from, To: '+447700900100', Body: body }))
const caseOf = async (phone: string) =>
  (await ctx.query<{ id: number; work_status: string }>('select id, work_status from cases where reported_phone = $1 order by id', [phone]))

describe('a resident writing again', () => {
  it('reopens a case left waiting on them or resolved, with an event; a closed case stays closed', async () => {
    for (const [phone, before, after] of [
      ['+447911000201', 'waiting_on_resident', 'open'],
      ['+447911000202', 'resolved', 'open'],
      ['+447911000203', 'closed', 'closed'],
      ['+447911000204', 'waiting_on_back_office', 'waiting_on_back_office']
    ] as const) {
      expect((await text(phone, 'Fly-tipping on the corner SW1A 1AA')).statusCode).toBe(200)
      const [c] = await caseOf(phone)
      await ctx.query('update cases set work_status = $2 where id = $1', [c!.id, before])
      expect((await text(phone, 'It is still there, and more has been dumped')).statusCode).toBe(200)
      const all = await caseOf(phone)
      expect(all).toHaveLength(1) // the text joined its case
      expect(all[0]!.work_status).toBe(after)
      const reopened = await ctx.query(`select 1 from case_events where case_id = $1 and type = 'case.reopened'`, [c!.id])
      expect(reopened).toHaveLength(after === 'open' ? 1 : 0)
    }
  })
})
