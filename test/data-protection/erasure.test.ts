import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyWebhook } from '../../src/delivery/signature.js'
import { recordReads } from '../../src/data-protection/access-log.js'
import { projectRoot } from '../../src/lib/paths.js'
import { standardSignature } from '../../src/webhooks/signing.js'
import { createEmailContext, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'
import { OPERATOR_KEY, postContact, waitFor } from '../helpers/context.js'
import { startReceiver, useCouncilWebhooks, type Receiver } from '../helpers/delivery.js'
import { exitOf, killIfAlive, spawnTs } from '../helpers/processes.js'
import { postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'
import { WESTMINSTER } from '../helpers/councils.js'

// A resident who reports through the web, by SMS and by email asks to be erased: after it,
// nothing of them is left in a dump of the whole database or anywhere in Redis, the
// councils' counts are the same, and every council system that had one of their cases was
// told, signed.

const run = promisify(execFile)
const WESTMINSTER_NUMBER = '+447700900101'
const DESTINATION_SECRET = 'whsec_erasure_test_destination_4f2a9c'
const SUBSCRIPTION_SECRET = `whsec_${Buffer.from('erasure-test-subscription-secret!').toString('base64')}`

// obviously fictitious (the phone numbers are not Ofcom's drama range, which phone parsing rightly refuses as no one's number), and distinctive enough that any trace of them is theirs
const PERSON = { name: 'Zebedee Quimbleworth', email: 'zebedee.quimbleworth@example.com', phone: '+447911123777' }
const PHRASES = {
  web: 'purple hippo statue has tipped into the road',
  sms: 'marmalade-coloured puddle swallowing bicycles',
  email: 'glitter-covered sofa dumped by the postbox'
}
const CONTROL = { name: 'Constance Controlperson', email: 'constance.control@example.org', phrase: 'tangerine wheelie bin left open' }

/** Every way a string of the person could appear: as text, and as the hex Postgres dumps bytea in. */
function tracesOf(text: string): string[] {
  const forms = [PERSON.name, PERSON.email, PERSON.phone, `0${PERSON.phone.slice(3)}`, ...Object.values(PHRASES)]
  return forms.filter((f) => text.toLowerCase().includes(f.toLowerCase()) || text.includes(Buffer.from(f).toString('hex')))
}

/** The whole database as pg_dump writes it, data only. */
async function dumpDatabase(url: string): Promise<string> {
  const name = new URL(url).pathname.slice(1)
  const { stdout } = await run('pg_dump', ['-h', '127.0.0.1', '-U', 'postgres', '--data-only', name], { maxBuffer: 256 * 1024 * 1024 })
  return stdout
}

/** Every key in Redis (not only this file's), each value read by its type, as one text. */
async function dumpRedis(redis: Redis): Promise<string> {
  const out: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      const type = await redis.type(key)
      out.push(key)
      if (type === 'string') out.push((await redis.getBuffer(key))?.toString('latin1') ?? '')
      else if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)))
      else if (type === 'list') out.push(JSON.stringify(await redis.lrange(key, 0, -1)))
      else if (type === 'set') out.push(JSON.stringify(await redis.smembers(key)))
      else if (type === 'zset') out.push(JSON.stringify(await redis.zrange(key, '0', '-1')))
      else if (type === 'stream') out.push(JSON.stringify(await redis.xrange(key, '-', '+')))
    }
  } while (cursor !== '0')
  return out.join('\n')
}

/** The personal columns of a table, as docs/data-protection.md lists them. */
function personalColumns(table: string): string[] {
  const text = readFileSync(join(projectRoot, 'docs', 'data-protection.md'), 'utf8')
  const section = text.split(`### ${table}\n`)[1]?.split('\n### ')[0] ?? ''
  const line = /^- personal: (.*)$/m.exec(section)?.[1] ?? ''
  return line.split(',').map((s) => s.trim()).filter((s) => s && s !== '(none)')
}

async function countsByCouncilAndService(ctx: EmailContext) {
  return ctx.query(`select council_gss, service_code, channel, date_trunc('month', created_at) as month, count(*)::int as n from cases group by 1, 2, 3, 4 order by 1, 2, 3, 4`)
}

const admin = (ctx: EmailContext, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) =>
  ctx.app.inject({ method, url, headers: { authorization: `Bearer ${OPERATOR_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) }, payload: body ? JSON.stringify(body) : undefined })

describe('erasure of a resident who used the web, SMS and email', () => {
  let ctx: EmailContext
  let destination: Receiver
  let subscription: Receiver
  const references: string[] = []
  let controlReference = ''

  beforeAll(async () => {
    destination = await startReceiver(() => 200)
    subscription = await startReceiver(() => 200)
    ctx = await createEmailContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN }, { workers: true })
    // Westminster's back office is one signed webhook for every service; its own system
    // also subscribes to case events
    await useCouncilWebhooks(ctx, WESTMINSTER, {
      destination: { url: destination.url, secret: DESTINATION_SECRET },
      subscription: { url: subscription.url, secret: SUBSCRIPTION_SECRET }
    })
  }, 60_000)
  afterAll(async () => {
    await ctx?.close()
    await destination?.close()
    await subscription?.close()
  })

  it('leaves none of their details anywhere, keeps the counts, and tells every council system, signed', async () => {
    const web = await postContact(ctx, { name: PERSON.name, email: PERSON.email, phone: PERSON.phone, postcode: 'SW1A 1AA', service_code: 'missed_bin', description: `The ${PHRASES.web}` })
    expect(web.statusCode, web.body).toBe(202)
    references.push((web.json() as { reference: string }).reference)
    const sms = await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: PERSON.phone, To: WESTMINSTER_NUMBER, Body: `Pothole on Whitehall SW1A 2AA with a ${PHRASES.sms}` }))
    expect(sms.statusCode, sms.body).toBe(200)
    await ctx.send({ from: `${PERSON.name} <${PERSON.email}>`, to: TRI_BOROUGH_MAILBOX, subject: 'Fly-tipping', text: `Fly-tipping at W2 1AA: a ${PHRASES.email}.\n\n${PERSON.name}` })
    const control = await postContact(ctx, { name: CONTROL.name, email: CONTROL.email, postcode: 'SW1A 1AA', service_code: 'missed_bin', description: CONTROL.phrase })
    controlReference = (control.json() as { reference: string }).reference

    // every case delivered to Westminster's webhook, and its subscription told of each
    const personCases = await waitFor(async () => {
      const rows = await ctx.query<{ reference: string; channel: string }>(
        `select reference, channel from cases where reported_email = $1 or reported_phone = $2 or resident_id in (select resident_id from contact_points where value in ($1, $2)) order by id`,
        [PERSON.email, PERSON.phone]
      )
      return rows.length === 3 ? rows : null
    }, 15_000, "the person's three cases")
    expect(personCases.map((c) => c.channel).sort()).toEqual(['email', 'sms', 'web'])
    const all = [...personCases.map((c) => c.reference), controlReference]
    await waitFor(async () => {
      const rows = await ctx.query(`select 1 from deliveries d join cases c on c.id = d.case_id where c.reference = any($1) and d.state = 'delivered'`, [all])
      const hooks = await ctx.query(`select 1 from webhook_events where state <> 'delivered'`)
      return rows.length === 4 && hooks.length === 0
    }, 20_000, 'every case delivered and announced')
    // an agent read one of them
    const [first] = await ctx.query<{ id: number; reference: string; council_gss: string }>(`select id, reference, council_gss from cases where reference = $1`, [personCases[0]!.reference])
    await recordReads(ctx.infra.db, { kind: 'agent', id: 'agent:1' }, [first!], 'GET /v1/agent/cases/:reference')

    // before: they are in the dump (so the check below can see them), and so is the control
    const before = await dumpDatabase(ctx.config.DATABASE_URL)
    expect(tracesOf(before).length).toBeGreaterThan(4)
    const countsBefore = await countsByCouncilAndService(ctx)

    const erased = await admin(ctx, 'POST', '/v1/admin/residents/erase', { contacts: [PERSON.email, '07911 123777'], reason: 'Request by letter, identity checked against council tax record' })
    expect(erased.statusCode, erased.body).toBe(200)
    const result = erased.json() as { outcome: string; cases_erased: number; held: unknown[]; notices: number; residents: number }
    expect(result).toMatchObject({ outcome: 'erased', cases_erased: 3, held: [] })
    expect(result.residents).toBeGreaterThanOrEqual(1)
    // three destination notices and three subscription events
    expect(result.notices).toBe(6)

    // each council system hears case.erased for each of their cases, signed
    const personRefs = personCases.map((c) => c.reference).sort()
    const erasedAtDestination = await waitFor(async () => {
      const got = destination.requests.filter((r) => r.answered && (JSON.parse(r.body) as { event?: string }).event === 'case.erased')
      return got.length >= 3 ? got : null
    }, 15_000, 'case.erased at the destination')
    expect(erasedAtDestination.map((r) => (JSON.parse(r.body) as { case: { reference: string } }).case.reference).sort()).toEqual(personRefs)
    for (const r of erasedAtDestination) {
      expect(verifyWebhook(DESTINATION_SECRET, String(r.headers['x-switchboard-timestamp']), r.body, String(r.headers['x-switchboard-signature']))).toBe(true)
      expect(tracesOf(r.body)).toEqual([])
    }
    const erasedAtSubscription = await waitFor(async () => {
      const got = subscription.requests.filter((r) => r.answered && (JSON.parse(r.body) as { type?: string }).type === 'case.erased')
      return got.length >= 3 ? got : null
    }, 15_000, 'case.erased at the subscription')
    expect(erasedAtSubscription.map((r) => (JSON.parse(r.body) as { data: { case: { reference: string } } }).data.case.reference).sort()).toEqual(personRefs)
    for (const r of erasedAtSubscription) {
      const h = r.headers
      expect(String(h['webhook-signature'])).toBe(standardSignature(SUBSCRIPTION_SECRET, String(h['webhook-id']), String(h['webhook-timestamp']), r.body))
    }
    // and the control's case was not announced as erased anywhere
    expect(destination.requests.some((r) => r.body.includes(controlReference) && r.body.includes('case.erased'))).toBe(false)

    // after: nothing of them in Postgres or Redis; the control is untouched
    const after = await dumpDatabase(ctx.config.DATABASE_URL)
    expect(tracesOf(after)).toEqual([])
    expect(after).toContain(CONTROL.name)
    expect(after).toContain(CONTROL.phrase)
    expect(tracesOf(await dumpRedis(ctx.infra.redis))).toEqual([])
    expect(await countsByCouncilAndService(ctx)).toEqual(countsBefore)

    // every column the inventory calls personal is empty on their cases and messages
    for (const table of ['cases', 'messages'] as const) {
      const cols = personalColumns(table)
      expect(cols.length).toBeGreaterThan(3)
      const key = table === 'cases' ? 'reference' : '(select reference from cases where id = case_id)'
      const rows = await ctx.query<Record<string, unknown>>(`select ${cols.join(', ')} from ${table} where ${key} = any($1)`, [personRefs])
      expect(rows.length).toBeGreaterThanOrEqual(3)
      for (const row of rows) {
        for (const [col, value] of Object.entries(row)) {
          const empty = value === null || value === '' || (Array.isArray(value) && value.length === 0) || (col === 'postcode' && typeof value === 'string' && !value.includes(' '))
          expect(empty, `${table}.${col} still holds ${JSON.stringify(value)}`).toBe(true)
        }
      }
    }
    // the events keep what happened and who did it
    const events = await ctx.query<{ type: string; actor: string; reason: string }>(
      `select type, actor, reason from case_events where case_id = (select id from cases where reference = $1) order by id`,
      [personRefs[0]]
    )
    expect(events.map((e) => e.type)).toContain('case.opened')
    expect(events).toContainEqual(expect.objectContaining({ type: 'case.erased', actor: 'operator' }))
    expect(events.at(-1)).toMatchObject({ type: 'erasure.notified', actor: 'worker:erasure' })
    expect(events.some((e) => e.actor.startsWith('intake:'))).toBe(true)
    // the record of the read stays: who read which case, no personal data
    expect(await ctx.query(`select actor from access_log where reference = $1`, [first!.reference])).toEqual([{ actor: 'agent:1' }])

    // Twilio retrying the SMS after the erasure changes nothing: the replay is recognised
    const [raw] = await ctx.query<{ payload: Record<string, unknown>; provider_message_id: string }>(
      `select r.payload, r.provider_message_id from raw_inbound r join cases c on c.id = r.case_id where c.channel = 'sms' and c.reference = any($1)`,
      [personRefs]
    )
    expect(raw!.payload).toEqual({})
    const replay = await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: PERSON.phone, To: WESTMINSTER_NUMBER, Body: `Pothole on Whitehall SW1A 2AA with a ${PHRASES.sms}`, MessageSid: raw!.provider_message_id, SmsSid: raw!.provider_message_id, SmsMessageSid: raw!.provider_message_id }))
    expect(replay.statusCode).toBe(200)
    expect(tracesOf(await dumpDatabase(ctx.config.DATABASE_URL))).toEqual([])
  }, 90_000)

  it('leaves a case under legal hold whole, records the refusal and answers with its reason', async () => {
    const person = { name: 'Hortensia Heldcase', email: 'hortensia.heldcase@example.com' }
    const refs: string[] = []
    for (const description of ['Broken paving slab tripped me outside the library', 'Street light out on the corner']) {
      const res = await postContact(ctx, { ...person, postcode: 'SW1A 1AA', service_code: 'missed_bin', description })
      refs.push((res.json() as { reference: string }).reference)
    }
    const hold = await admin(ctx, 'PUT', `/v1/admin/cases/${refs[0]}/legal-hold`, { reason: 'Personal injury claim PI-2026-0117 pending' })
    expect(hold.statusCode, hold.body).toBe(200)

    const erased = await admin(ctx, 'POST', '/v1/admin/residents/erase', { contacts: [person.email], reason: 'Request by email, identity checked' })
    expect(erased.statusCode, erased.body).toBe(200)
    expect(erased.json()).toMatchObject({ outcome: 'partly_refused', cases_erased: 1, held: [{ reference: refs[0], reason: 'Personal injury claim PI-2026-0117 pending' }] })

    const [kept] = await ctx.query<{ reported_name: string; description: string; redacted_at: Date | null }>(`select reported_name, description, redacted_at from cases where reference = $1`, [refs[0]])
    expect(kept).toEqual({ reported_name: person.name, description: 'Broken paving slab tripped me outside the library', redacted_at: null })
    const [gone] = await ctx.query<{ reported_name: string | null; redaction: string }>(`select reported_name, redaction from cases where reference = $1`, [refs[1]])
    expect(gone).toEqual({ reported_name: null, redaction: 'erasure' })

    // the refusal, with the hold's reason, is on the case and on the request
    const refused = await ctx.query<{ actor: string; reason: string }>(
      `select actor, reason from case_events where type = 'erasure.refused' and case_id = (select id from cases where reference = $1)`,
      [refs[0]]
    )
    expect(refused).toHaveLength(1)
    expect(refused[0]!.reason).toContain('Personal injury claim PI-2026-0117 pending')
    const listed = await admin(ctx, 'GET', '/v1/admin/erasures?limit=1')
    expect(listed.json()).toMatchObject([{ reason: 'Request by email, identity checked', cases_erased: 1, held: [{ reference: refs[0] }] }])

    // released, a second request erases it
    expect((await admin(ctx, 'DELETE', `/v1/admin/cases/${refs[0]}/legal-hold`)).json()).toEqual({ reference: refs[0], released: true })
    const again = await admin(ctx, 'POST', '/v1/admin/residents/erase', { contacts: [person.email], reason: 'Claim settled; erasure completed' })
    expect(again.json()).toMatchObject({ outcome: 'erased', cases_erased: 1, held: [] })
  }, 60_000)

  it('answers a contact that is neither an email nor a phone number with a clear 400, and an unknown one with nothing_held', async () => {
    const bad = await admin(ctx, 'POST', '/v1/admin/residents/erase', { contacts: ['not a contact'], reason: 'x' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ field: 'contact' })
    const none = await admin(ctx, 'POST', '/v1/admin/residents/erase', { contacts: ['nobody.here@example.net'], reason: 'Request by letter' })
    expect(none.json()).toMatchObject({ outcome: 'nothing_held', cases_erased: 0 })
    const anon = await ctx.app.inject({ method: 'POST', url: '/v1/admin/residents/erase', headers: { 'content-type': 'application/json' }, payload: '{}' })
    expect(anon.statusCode).toBe(401)
  })

  it('is also `npm run cli -- resident erase`, with the contact repeated for each one the resident used', async () => {
    const person = { name: 'Cuthbert Clicommand', email: 'cuthbert.cli@example.com', phone: '+447911123778' }
    const res = await postContact(ctx, { ...person, postcode: 'SW1A 1AA', service_code: 'missed_bin', description: 'Overflowing litter bin by the bus stop' })
    const reference = (res.json() as { reference: string }).reference
    const child = spawnTs('src/cli/index.ts', ['resident', 'erase', '--contact', person.email, '--contact', person.phone, '--reason', 'Request in person at the library'], {
      DATABASE_URL: ctx.config.DATABASE_URL,
      REDIS_URL: ctx.config.REDIS_URL,
      QUEUE_PREFIX: ctx.config.QUEUE_PREFIX
    })
    try {
      const { code } = await exitOf(child, 45_000)
      expect(code, child.stderr()).toBe(0)
      expect(JSON.parse(child.stdout())).toMatchObject({ outcome: 'erased', cases_erased: 1 })
    } finally {
      await killIfAlive(child)
    }
    const [row] = await ctx.query<{ reported_name: string | null; redaction: string | null }>(`select reported_name, redaction from cases where reference = $1`, [reference])
    expect(row).toEqual({ reported_name: null, redaction: 'erasure' })
  }, 60_000)
})
