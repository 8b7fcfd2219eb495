import { randomBytes } from 'node:crypto'
import { Queue, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKey } from '../../src/councils/api-keys.js'
import { OPERATOR_KEY, postContact, waitFor, waitPlaced, type TestContext } from '../helpers/context.js'
import { deliveriesSettled, startReceiver, type Receiver } from '../helpers/delivery.js'
import { ACCOUNT_SID, postTwilio, smsParams } from '../helpers/twilio.js'
import { createTwilioContext, type TwilioApiStandIn } from '../helpers/twilio-api.js'
import { WESTMINSTER } from '../helpers/councils.js'

// "Job payloads carry ids only" (issue 12, item 6): the whole pipeline runs with its
// workers (a web contact, a text, an MMS, replies by SMS and email, deliveries to council
// systems, council webhooks), then every BullMQ job left in Redis under this file's prefix
// is read back. Each job's data must be `v` and numeric ids, nothing else: a payload that
// carried a phone number, an email or a resident's words would sit in Redis, outside every
// retention schedule and erasure.

const TRI_BOROUGH_NUMBER = '+447700900100'
const tag = randomBytes(3).toString('hex')
/** The residents' personal data, fictitious and distinctive, to look for in Redis afterwards. */
const RESIDENT = {
  name: `Wilhelmina Fictitious ${tag}`,
  email: `wilhelmina.${tag}@example.org`,
  webPhone: '+447911000731',
  smsPhone: '+447911000732',
  mmsPhone: '+447911000733',
  phrase: `purple hedgehog ${tag}`
}

let ctx: TestContext
let api: TwilioApiStandIn
let close: () => Promise<void>
let receiver: Receiver

beforeAll(async () => {
  ;({ ctx, api, close } = await createTwilioContext())
  receiver = await startReceiver(() => 200)
}, 30_000)
afterAll(async () => {
  await receiver?.close()
  await close?.()
})

/** One job as BullMQ stores it: a hash `${prefix}:${queue}:${jobId}` with its JSON `data`. */
interface StoredJob {
  key: string
  queue: string
  data: string
  /** every other field of the hash (name, opts, returnvalue, failedReason ...) */
  rest: Record<string, string>
}

/** Every hash under the prefix with a `data` field: jobs, and job schedulers' templates. */
async function storedJobs(redis: Redis, prefix: string): Promise<StoredJob[]> {
  const jobs: StoredJob[] = []
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500)
    cursor = next
    for (const key of keys) {
      if ((await redis.type(key)) !== 'hash') continue
      const { data, ...rest } = await redis.hgetall(key)
      if (data === undefined) continue
      jobs.push({ key, queue: key.slice(prefix.length + 1).split(':')[0]!, data, rest })
    }
  } while (cursor !== '0')
  return jobs
}

/**
 * The only fields that may hold text, and the words they may hold: each a closed set that
 * can name no one. A new one is added here on purpose, never by a payload growing a field.
 */
const ENUMERATED: Record<string, readonly string[]> = {
  // the retention run's trigger (src/data-protection/retention.ts RetentionJob)
  requestedBy: ['schedule', 'operator']
}

/**
 * Why a job's data is not ids only, or null when it is: a plain object holding `v` (the
 * payload version) and fields named like ids (`caseId`, `outboxId` ...) with whole numbers,
 * plus the few ENUMERATED words. Any other string is refused whatever it holds: nothing
 * tells a harmless one from a name.
 */
function notIdsOnly(data: string): string | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch {
    return 'data is not JSON'
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return `data is ${JSON.stringify(parsed)}, not an object`
  for (const [field, value] of Object.entries(parsed)) {
    if (field === 'v') {
      if (!Number.isInteger(value)) return 'v is not a whole number'
    } else if (Object.hasOwn(ENUMERATED, field)) {
      if (!ENUMERATED[field]!.includes(value as string)) return `field ${field} holds ${JSON.stringify(value)}, not one of ${ENUMERATED[field]!.join(', ')}`
    } else if (!/^[a-z][a-zA-Z]*Id$/.test(field)) return `field ${field} is not an id`
    else if (!Number.isSafeInteger(value)) return `field ${field} holds ${typeof value}, not a whole number`
  }
  return null
}

/** Every value of every key under the prefix, as text, with its key: what a scan of Redis would show. */
async function everythingUnder(redis: Redis, prefix: string): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = []
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500)
    cursor = next
    for (const key of keys) {
      const type = await redis.type(key)
      let value: unknown
      if (type === 'string') value = await redis.get(key)
      else if (type === 'hash') value = await redis.hgetall(key)
      else if (type === 'list') value = await redis.lrange(key, 0, -1)
      else if (type === 'set') value = await redis.smembers(key)
      else if (type === 'zset') value = await redis.zrange(key, '0', '-1')
      else if (type === 'stream') value = await redis.xrange(key, '-', '+')
      out.push({ key, text: JSON.stringify(value) })
    }
  } while (cursor !== '0')
  return out
}

const operator = { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' }
const mediaPath = `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/MM${'b'.repeat(32)}/Media/ME${'1'.padStart(32, '0')}`
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')

describe('job payloads', () => {
  it('carry ids only, on every queue the pipeline uses', { timeout: 60_000 }, async () => {
    // a council system subscribed to its cases' events: webhook:send jobs
    const key = await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read', 'write'])
    const sub = await ctx.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ url: receiver.url, events: ['case.routed', 'case.updated'] })
    })
    expect(sub.statusCode, sub.body).toBe(201)

    // a web contact: case:route, then delivery to Westminster's mailbox, which is busy at
    // first, so that the second attempt is a case:deliver job (a first attempt has none)
    ctx.mailSink!.refuseNext(1)
    const web = await postContact(ctx, {
      name: RESIDENT.name,
      email: RESIDENT.email,
      phone: RESIDENT.webPhone,
      postcode: 'SW1A 1AA',
      service_code: 'council_tax',
      description: `My bill mentions a ${RESIDENT.phrase} at my flat`
    })
    expect(web.statusCode, web.body).toBe(202)
    const webRef = web.json().reference as string

    // a text and an MMS: an acknowledgement, media:fetch for the photo
    api.media.set(mediaPath, { contentType: 'image/png', body: PNG })
    const sms = await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: RESIDENT.smsPhone, To: TRI_BOROUGH_NUMBER, Body: `Fly-tipping, a ${RESIDENT.phrase}, at SW1A 2AA` }))
    expect(sms.statusCode, sms.body).toBe(200)
    const mms = await postTwilio(
      ctx,
      '/channels/twilio/sms',
      smsParams({ From: RESIDENT.mmsPhone, To: TRI_BOROUGH_NUMBER, Body: `Photo of the ${RESIDENT.phrase} at SW1A 2AA`, NumMedia: '1', MediaUrl0: `https://api.twilio.com${mediaPath}`, MediaContentType0: 'image/png' })
    )
    expect(mms.statusCode, mms.body).toBe(200)
    const [smsCase] = await ctx.query<{ reference: string }>('select reference from cases where reported_phone = $1', [RESIDENT.smsPhone])
    for (const ref of [webRef, smsCase!.reference]) await waitPlaced(ctx, ref)

    // message:send by SMS (the operator's reply) and by email (the council's update to the web resident)
    const reply = await ctx.app.inject({ method: 'POST', url: `/v1/admin/cases/${smsCase!.reference}/replies`, headers: operator, payload: JSON.stringify({ body: 'Thank you, a crew is on its way.' }) })
    expect(reply.statusCode, reply.body).toBe(202)
    const update = await ctx.app.inject({
      method: 'POST',
      url: `/v1/cases/${webRef}/updates`,
      headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ status: 'in_progress', description: 'We are checking your bill.' })
    })
    expect(update.statusCode, update.body).toBe(201)

    // everything done: nothing pending in the outbox, the media kept, the messages sent, the webhooks answered
    await deliveriesSettled(ctx, 20_000)
    await waitFor(async () => (await ctx.query(`select 1 from outbox where done_at is null limit 1`)).length === 0, 20_000, 'the outbox to drain')
    await waitFor(async () => (await ctx.query(`select 1 from message_media where state = 'stored' limit 1`)).length === 1, 20_000, 'the MMS photo to be kept')
    await waitFor(async () => (await ctx.query(`select 1 from messages where direction = 'outbound' and status = 'pending' limit 1`)).length === 0, 20_000, 'replies to be sent')
    await waitFor(async () => (await ctx.query(`select 1 from webhook_events where state = 'pending' limit 1`)).length === 0 && receiver.requests.length > 0, 20_000, 'webhook events to be sent')
    expect(api.texts.some((t) => t.params.To === RESIDENT.smsPhone)).toBe(true)

    const prefix = ctx.config.QUEUE_PREFIX
    const jobs = await storedJobs(ctx.infra.redis, prefix)
    // the pipeline really ran through every queue here: none of this passes on an empty Redis
    for (const queue of ['case-route', 'case-deliver', 'message-send', 'media-fetch', 'webhook-send']) {
      expect(jobs.filter((j) => j.queue === queue).length, `jobs on ${queue}`).toBeGreaterThan(0)
    }
    const offenders = jobs.map((j) => ({ key: j.key, why: notIdsOnly(j.data) })).filter((o) => o.why)
    expect(offenders).toEqual([])

    // and nothing else BullMQ keeps under the prefix (return values, failure reasons, event
    // streams) holds what the residents gave
    const personal = Object.values(RESIDENT)
    const found = (await everythingUnder(ctx.infra.redis, prefix)).flatMap(({ key, text }) => personal.filter((p) => text.includes(p)).map((p) => `${key} holds ${p}`))
    expect(found).toEqual([])
  })

  it('are caught when one carries a phone number, an email or words', async () => {
    // a queue of this test's own that no worker takes: the jobs stay as they were added
    const probe = new Queue('payload-probe', { connection: ctx.infra.redis as unknown as ConnectionOptions, prefix: ctx.config.QUEUE_PREFIX })
    try {
      await probe.add('ok', { v: 1, outboxId: 7, caseId: 42 })
      await probe.add('phone', { v: 1, outboxId: 8, caseId: 43, to: RESIDENT.smsPhone } as Record<string, unknown>)
      await probe.add('email', { v: 1, messageId: 9, email: RESIDENT.email } as Record<string, unknown>)
      await probe.add('words', { v: 1, caseId: 44, note: RESIDENT.phrase } as Record<string, unknown>)
      await probe.add('number-as-text', { v: 1, caseId: '44' } as Record<string, unknown>)
      await probe.add('enumerated', { v: 1, requestedBy: 'operator' } as Record<string, unknown>)
      await probe.add('enumerated-but-free', { v: 1, requestedBy: RESIDENT.email } as Record<string, unknown>)
      await probe.add('not-an-object', RESIDENT.smsPhone as unknown as Record<string, unknown>)
      const mine = (await storedJobs(ctx.infra.redis, ctx.config.QUEUE_PREFIX)).filter((j) => j.queue === 'payload-probe')
      const verdicts = Object.fromEntries(mine.map((j) => [j.rest.name, notIdsOnly(j.data)]))
      expect(verdicts).toEqual({
        ok: null,
        enumerated: null,
        'enumerated-but-free': `field requestedBy holds "${RESIDENT.email}", not one of schedule, operator`,
        phone: 'field to is not an id',
        email: 'field email is not an id',
        words: 'field note is not an id',
        'number-as-text': 'field caseId holds string, not a whole number',
        'not-an-object': `data is "${RESIDENT.smsPhone}", not an object`
      })
    } finally {
      await probe.obliterate({ force: true })
      await probe.close()
    }
  })
})
