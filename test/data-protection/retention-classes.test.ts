import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKey } from '../../src/councils/api-keys.js'
import { applyRetention } from '../../src/data-protection/retention.js'
import type { RecordClass } from '../../src/data-protection/retention-schedules.js'
import { postContact } from '../helpers/context.js'
import { startReceiver, useWebhookDestination, type Receiver } from '../helpers/delivery.js'
import { createEmailContext, type EmailContext } from '../helpers/email.js'
import { TWILIO_TOKEN } from '../helpers/twilio.js'
import { BRENT, WESTMINSTER } from '../helpers/councils.js'
import { diff, expected, keys, later, makeWorld, phraseIn, setSchedules, snapshot } from './fixtures/retention-world.js'

// One test per record class: the clock moved past that class's schedule while every other
// class is kept far longer, and exactly what the schedule names changes. Each test makes
// its own records; what it expects is read from the database before the run (everything
// not yet redacted is due, whichever test made it), so the tests hold in any order.

let ctx: EmailContext
const receivers: Receiver[] = []
beforeAll(async () => {
  // a failed webhook delivery retries only after ten minutes: it stays 'retrying' for the file
  ctx = await createEmailContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN, RETENTION_EVERY_MINUTES: 0, DELIVERY_BACKOFF_MS: 600_000 })
})
afterAll(async () => {
  for (const r of receivers) await r.close()
  await ctx?.close()
})

const run = (days: number) => applyRetention(ctx.infra.db, { now: later(days), batchSize: 3, log: ctx.infra.log })
const zero = { raw: 0, content: 0, case: 0, delivery: 0, resident: 0, access_log: 0 }
const only = (cls: RecordClass, n: number) => ({ ...zero, [cls]: n })

describe('each record class, run with the clock past its schedule', () => {
  it('raw: provider payloads and raw mail, including quarantined mail, are redacted; nothing else changes', async () => {
    const world = await makeWorld(ctx)
    await setSchedules(ctx, { raw: 1 })
    const raw = await keys(ctx, `select r.id as k from raw_inbound r left join cases c on c.id = r.case_id where r.redacted_at is null and c.legal_hold_at is null`)
    const mail = await keys(
      ctx,
      `select e.id as k from inbound_emails e left join raw_inbound r on r.id = e.raw_inbound_id left join cases c on c.id = r.case_id
        where e.redacted_at is null and c.legal_hold_at is null`
    )
    const unlinked = await keys(ctx, `select id as k from inbound_emails where redacted_at is null and raw_inbound_id is null`)
    const quarantined = await keys(ctx, `select id as k from inbound_emails where subject = $1`, [`Out of office ${world.tag}`])
    expect(quarantined).toHaveLength(1)
    const before = await snapshot(ctx)

    const result = await run(2)

    expect(diff(before, await snapshot(ctx))).toEqual(expected({ raw_inbound: { changed: raw }, inbound_emails: { changed: mail } }))
    // the STOP and START texts had no case; they are raw payloads too
    expect(raw.length).toBeGreaterThanOrEqual(6)
    expect(mail).toEqual(expect.arrayContaining(quarantined))
    // counted: payloads, and mail that had none (the rest went with its payload)
    expect(result.counts).toEqual(only('raw', raw.length + unlinked.length))
    expect(await ctx.query(`select 1 from raw_inbound where payload <> '{}' and redacted_at is not null`)).toHaveLength(0)
    expect(await ctx.query(`select 1 from inbound_emails where redacted_at is not null and (bytes is not null or envelope_from is not null or subject is not null)`)).toHaveLength(0)
    // quarantined mail is discarded with its bytes; the resident's report itself is untouched
    expect((await ctx.query<{ state: string }>('select state from inbound_emails where id = $1', [quarantined[0]]))[0]!.state).toBe('discarded')
    expect(await phraseIn(ctx, 'raw_inbound', world.phrase)).toBe(false)
    expect(await phraseIn(ctx, 'messages', world.phrase)).toBe(true)
    expect(await phraseIn(ctx, 'cases', world.phrase)).toBe(true)
  })

  it('content: messages, their attachments and media are redacted; cases, raw payloads and everything else stay', async () => {
    const world = await makeWorld(ctx)
    await setSchedules(ctx, { content: 1 })
    const messages = await keys(ctx, `select m.id as k from messages m join cases c on c.id = m.case_id where m.redacted_at is null and c.legal_hold_at is null`)
    const media = await keys(
      ctx,
      `select mm.id as k from message_media mm join messages m on m.id = mm.message_id join cases c on c.id = m.case_id
        where m.redacted_at is null and c.legal_hold_at is null and (mm.url is not null or mm.content is not null or mm.filename is not null or mm.content_id is not null or mm.detail is not null)`
    )
    const photo = await keys(ctx, `select mm.id as k from message_media mm join messages m on m.id = mm.message_id where m.case_id = $1 and mm.filename = 'photo.png'`, [world.cases.email])
    expect(photo).toHaveLength(1)
    const before = await snapshot(ctx)

    const result = await run(2)

    expect(diff(before, await snapshot(ctx))).toEqual(expected({ messages: { changed: messages }, message_media: { changed: media } }))
    expect(media).toEqual(expect.arrayContaining(photo))
    expect(result.counts).toEqual(only('content', messages.length))
    const [m] = await ctx.query<{ body: string; sender: string | null }>(`select body, sender from messages where case_id = $1 and direction = 'inbound'`, [world.cases.sms])
    expect(m).toEqual({ body: '', sender: null })
    expect(await phraseIn(ctx, 'messages', world.phrase)).toBe(false)
    expect(await phraseIn(ctx, 'cases', world.phrase)).toBe(true)
  })

  it('case: cases are redacted whole, with their events, content and payloads; no case row is lost, residents and reads stay', async () => {
    const world = await makeWorld(ctx)
    await setSchedules(ctx, { case: 1 })
    const cases = await keys(ctx, `select id as k from cases where redacted_at is null and legal_hold_at is null`)
    const before = await snapshot(ctx)

    const result = await run(2)

    const changes = diff(before, await snapshot(ctx))
    expect(changes.cases!.changed).toEqual(cases)
    expect(cases).toEqual(expect.arrayContaining(world.caseIds.map(String)))
    expect(result.counts).toEqual(only('case', cases.length))
    // only the redaction of those cases: no row added or removed, and every changed row is theirs
    const caseOf: Record<string, (row: Record<string, unknown>) => unknown> = {
      case_events: (r) => r.case_id,
      messages: (r) => r.case_id,
      raw_inbound: (r) => r.case_id,
      deliveries: (r) => r.case_id,
      webhook_events: (r) => r.case_id,
      case_updates: (r) => r.case_id,
      message_media: (r) => JSON.parse(before.messages!.get(String(r.message_id))!).case_id,
      inbound_emails: (r) => JSON.parse(before.raw_inbound!.get(String(r.raw_inbound_id))!).case_id
    }
    for (const [table, d] of Object.entries(changes)) {
      expect(d.added, table).toEqual([])
      expect(d.removed, table).toEqual([])
      if (table === 'cases') continue
      expect(Object.keys(caseOf), `${table} should not change`).toContain(table)
      for (const k of d.changed) expect(cases, `${table} ${k}`).toContain(String(caseOf[table]!(JSON.parse(before[table]!.get(k)!))))
    }
    for (const table of ['residents', 'contact_points', 'access_log', 'sms_opt_outs']) expect(changes[table], table).toBeUndefined()
    // what reporting needs is still there
    const kept = await ctx.query(`select reference, council_gss, service_code, channel, created_at, redaction from cases where id = any($1::bigint[]) order by id`, [world.caseIds])
    expect(kept.map((c) => ({ ...c, redaction: undefined }))).toEqual(
      world.caseIds.map((id) => {
        const r = JSON.parse(before.cases!.get(String(id))!)
        return { reference: r.reference, council_gss: r.council_gss, service_code: r.service_code, channel: r.channel, created_at: new Date(r.created_at), redaction: undefined }
      })
    )
    expect(new Set(kept.map((c) => c.redaction))).toEqual(new Set(['retention']))
    for (const table of ['cases', 'case_events', 'messages', 'raw_inbound']) expect(await phraseIn(ctx, table, world.phrase), table).toBe(false)
  })

  it('delivery: settled deliveries, webhook events and erasure notices are deleted; work still pending or retrying stays', async () => {
    const ok = await startReceiver(() => 200)
    const gone = await startReceiver(() => 400)
    const busy = await startReceiver(() => 503)
    receivers.push(ok, gone, busy)
    const secret = 'whsec_retention_0123456789abcdef'
    await useWebhookDestination(ctx, { council: WESTMINSTER, service: 'noise', url: ok.url, secret })
    await useWebhookDestination(ctx, { council: BRENT, service: 'missed_bin', url: gone.url, secret })
    await useWebhookDestination(ctx, { council: BRENT, service: 'noise', url: busy.url, secret })
    // Westminster's own system hears about its cases too (webhook_events)
    const key = (await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read', 'write'])).key
    const sub = await ctx.app.inject({ method: 'POST', url: '/v1/webhooks', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: JSON.stringify({ url: ok.url, events: ['case.created', 'case.routed'] }) })
    expect(sub.statusCode, sub.body).toBe(201)
    const world = await makeWorld(ctx, async () => {
      const ids: number[] = []
      for (const [postcode, service_code] of [['SW1A 1AA', 'noise'], ['HA9 0FJ', 'missed_bin'], ['HA9 0FJ', 'noise']] as const) {
        const res = await postContact(ctx, { name: 'Cy Testperson', email: `cy.${Date.now()}@example.com`, postcode, service_code, description: 'Loud music every night' })
        expect(res.statusCode, res.body).toBe(202)
        ids.push((await ctx.query<{ id: number }>('select id from cases where reference = $1', [res.json().reference]))[0]!.id)
      }
      return ids
    })
    const states = await ctx.query<{ state: string }>('select state from deliveries where case_id = any($1::bigint[])', [world.caseIds])
    expect(new Set(states.map((s) => s.state))).toEqual(new Set(['delivered', 'dead', 'retrying']))
    expect(await ctx.query(`select 1 from webhook_events where case_id = any($1::bigint[]) and state = 'delivered'`, [world.caseIds])).not.toHaveLength(0)
    // erasure (src/data-protection/erasure.ts) sends these; one sent and one still to go
    const destination = (await ctx.query<{ id: number }>('select destination_id as id from deliveries where case_id = $1', [world.cases.westminster]))[0]!.id
    await ctx.query(
      `insert into erasure_notices (case_id, destination_id, kind, state, delivered_at) values ($1, $3, 'email', 'delivered', now()), ($2, $3, 'email', 'pending', null)`,
      [world.cases.westminster, world.cases.sms, destination]
    )
    await setSchedules(ctx, { delivery: 1 })
    const deliveries = await keys(ctx, `select d.id as k from deliveries d join cases c on c.id = d.case_id where d.state in ('delivered', 'dead', 'kept') and c.legal_hold_at is null`)
    const hooks = await keys(ctx, `select w.id as k from webhook_events w join cases c on c.id = w.case_id where w.state in ('delivered', 'dead') and c.legal_hold_at is null`)
    const notices = await keys(ctx, `select n.id as k from erasure_notices n join cases c on c.id = n.case_id where n.state in ('delivered', 'dead') and c.legal_hold_at is null`)
    const before = await snapshot(ctx)

    const result = await run(2)

    expect(diff(before, await snapshot(ctx))).toEqual(expected({ deliveries: { removed: deliveries }, webhook_events: { removed: hooks }, erasure_notices: { removed: notices } }))
    expect(notices).toHaveLength(1)
    expect(result.counts).toEqual(only('delivery', deliveries.length + hooks.length + notices.length))
    const left = await ctx.query<{ state: string }>('select state from deliveries where case_id = any($1::bigint[])', [world.caseIds])
    expect(left).toEqual([{ state: 'retrying' }])
    expect(await ctx.query<{ state: string }>('select state from erasure_notices where case_id = any($1::bigint[])', [world.caseIds])).toEqual([{ state: 'pending' }])
  })

  it('resident: a resident with no case left is erased, one with an open case is not; a START record goes, an active STOP stays', async () => {
    const gone = await makeWorld(ctx)
    // their cases expire first (the case class), so they have no case left
    await setSchedules(ctx, { case: 1 })
    await run(2)
    const stays = await makeWorld(ctx)
    await setSchedules(ctx, { resident: 1 })
    const residents = await keys(ctx, `select r.id as k from residents r where r.erased_at is null and not exists (select 1 from cases c where c.resident_id = r.id and c.redacted_at is null)`)
    const points = await keys(ctx, `select cp.kind || ':' || cp.value as k from contact_points cp where cp.resident_id = any($1::bigint[])`, [residents.map(Number)])
    const optIns = await keys(ctx, `select phone as k from sms_opt_outs where not opted_out`)
    const before = await snapshot(ctx)

    const result = await run(2)

    const changes = diff(before, await snapshot(ctx))
    expect(changes).toEqual(expected({ residents: { changed: residents }, contact_points: { removed: points }, sms_opt_outs: { removed: optIns } }))
    expect(optIns).toEqual(expect.arrayContaining([gone.startPhone, stays.startPhone]))
    expect(result.counts).toEqual(only('resident', residents.length + optIns.length))
    // the resident who texted about their case last week is erased; this week's is not
    const holder = (phone: string) => ctx.query<{ resident_id: number }>(`select resident_id from contact_points where kind = 'phone' and value = $1`, [phone])
    expect(await holder(gone.smsPhone)).toHaveLength(0)
    expect(await holder(stays.smsPhone)).toHaveLength(1)
    const erased = await ctx.query<{ display_name: string | null; erased_at: Date | null }>('select r.display_name, r.erased_at from residents r join cases c on c.resident_id = r.id where c.id = $1', [gone.cases.westminster])
    expect(erased[0]!.display_name).toBeNull()
    expect(erased[0]!.erased_at).not.toBeNull()
    // nobody is texted who said STOP: both STOPs are still on record
    expect(await keys(ctx, `select phone as k from sms_opt_outs where opted_out and phone = any($1::text[])`, [[gone.stopPhone, stays.stopPhone]])).toEqual([gone.stopPhone, stays.stopPhone].sort())
  })

  it('access_log: reads are deleted (the append-only table lets only the retention job), and nothing else', async () => {
    const world = await makeWorld(ctx)
    await expect(ctx.query('delete from access_log where case_id = $1', [world.cases.westminster])).rejects.toThrow(/append-only/)
    await setSchedules(ctx, { access_log: 1 })
    const reads = await keys(ctx, `select a.id as k from access_log a where not exists (select 1 from cases c where c.id = a.case_id and c.legal_hold_at is not null)`)
    const before = await snapshot(ctx)

    const result = await run(2)

    expect(diff(before, await snapshot(ctx))).toEqual(expected({ access_log: { removed: reads } }))
    expect(reads.length).toBeGreaterThanOrEqual(world.caseIds.length)
    expect(result.counts).toEqual(only('access_log', reads.length))
  })
})
