import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { HAMMERSMITH } from '../helpers/councils.js'
import { api, councilKey, subscribe, WESTMINSTER } from './webhooks-helpers.js'

const MAX = 5
let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({ WEBHOOK_MAX_SUBSCRIPTIONS_PER_COUNCIL: MAX })
})
afterAll(async () => {
  await ctx?.close()
})

const countFor = async (council: string) =>
  (await ctx.query<{ n: number }>('select count(*)::int as n from webhook_subscriptions where council_gss = $1', [council]))[0]!.n

const hook = (n: number) => ({ url: `https://backoffice.example.gov.uk/hooks/${n}`, events: ['case.routed'] })

describe('webhook subscriptions per council', () => {
  it('are capped, even when a key asks for many at once', async () => {
    const key = await councilKey(ctx, { council: WESTMINSTER.council })
    // more at once than the pool has connections: a count-then-insert would let several through
    const answers = await Promise.all(Array.from({ length: 30 }, (_, n) => api(ctx, key, 'POST', '/v1/webhooks', hook(n))))
    const statuses = answers.map((a) => a.statusCode)
    expect(statuses.filter((s) => s === 201)).toHaveLength(MAX)
    expect(statuses.filter((s) => s === 409)).toHaveLength(30 - MAX)
    const refused = answers.find((a) => a.statusCode === 409)!.json() as { code: string; message: string }
    expect(refused.code).toBe('webhook_subscription_limit')
    expect(refused.message).toContain(`${WESTMINSTER.council} has ${MAX} webhook subscriptions`)
    expect(await countFor(WESTMINSTER.council)).toBe(MAX)
    expect((await api(ctx, key, 'GET', '/v1/webhooks')).json()).toHaveLength(MAX)

    // deleting one makes room for one
    const [first] = (await api(ctx, key, 'GET', '/v1/webhooks')).json() as Array<{ id: number }>
    expect((await api(ctx, key, 'DELETE', `/v1/webhooks/${first!.id}`)).statusCode).toBe(204)
    await subscribe(ctx, key, hook(100))
    expect((await api(ctx, key, 'POST', '/v1/webhooks', hook(101))).statusCode).toBe(409)
  })

  it("count for the council a partnership key names, each member with its own allowance", async () => {
    const tri = await councilKey(ctx, { partnership: 'tri-borough' })
    // Westminster is full from the test above, whichever key asks
    const full = await api(ctx, tri, 'POST', '/v1/webhooks', { ...hook(200), council: WESTMINSTER.council })
    expect(full.statusCode).toBe(409)
    expect(full.json()).toMatchObject({ code: 'webhook_subscription_limit' })
    // its partner has room of its own
    for (let n = 0; n < MAX; n++) await subscribe(ctx, tri, { ...hook(300 + n), council: HAMMERSMITH })
    expect((await api(ctx, tri, 'POST', '/v1/webhooks', { ...hook(399), council: HAMMERSMITH })).statusCode).toBe(409)
    expect(await countFor(HAMMERSMITH)).toBe(MAX)
    expect(await countFor(WESTMINSTER.council)).toBe(MAX)
  })
})
