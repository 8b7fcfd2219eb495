import { Ajv } from 'ajv'
import ajvFormats from 'ajv-formats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentSessions } from '../../src/agents/sessions.js'
import { applyCouncilUpdate } from '../../src/cases/council-updates.js'
import { createApiKey } from '../../src/councils/api-keys.js'
import { recordReads } from '../../src/data-protection/access-log.js'
import type { SubjectAccessExport } from '../../src/data-protection/export-schema.js'
import { OPERATOR_KEY, postContact, waitFor } from '../helpers/context.js'
import { deliveriesSettled, startReceiver, useCouncilWebhooks, type Receiver } from '../helpers/delivery.js'
import { createEmailContext, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'
import { runCli } from '../helpers/processes.js'
import { postTwilio, smsParams, TWILIO_TOKEN } from '../helpers/twilio.js'
import { WESTMINSTER } from '../helpers/councils.js'

// Subject access: a resident who reported through the web, by SMS and by email asks what is
// held about them. The export (API and CLI) holds every message, event, delivery and
// recorded read of their cases, checked against the database; validates against the JSON
// Schema the OpenAPI document publishes; records itself as a read; and holds nothing of
// anyone else.

const TRI_BOROUGH_NUMBER = '+447700900100'
const DESTINATION_SECRET = 'whsec_export_test_destination_9b1e7d'
const SUBSCRIPTION_SECRET = `whsec_${Buffer.from('export-test-subscription-secret!').toString('base64')}`
const EXPORT_ROUTE = 'POST /v1/admin/residents/export'

// obviously fictitious: example domains, and Ofcom's London numbers for drama (020 7946 0xxx),
// which the web form accepts (it refuses the mobile drama range 07700 900xxx as invalid)
const PERSON = { name: 'Test Resident Zerelda', email: 'test.resident.zerelda@example.org', phone: '+442079460842', phoneAsTyped: '020 7946 0842' }
const OTHER = { name: 'Test Resident Other', email: 'test.resident.other@example.org', phone: '+442079460843', phrase: 'abandoned shopping trolley by the canal' }
// a 1x1 PNG: an attachment whose bytes must not be in the export
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64')

// ajv-formats is CommonJS: at run time its default export is the plugin itself
const addFormats = ajvFormats as unknown as typeof ajvFormats.default

let ctx: EmailContext
let destination: Receiver
let subscription: Receiver
let references: string[] = []
let caseIds: number[] = []
let otherReference = ''

const admin = (url: string, body: unknown, key: string | null = OPERATOR_KEY) =>
  ctx.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    payload: JSON.stringify(body)
  })

/** Runs `npm run cli -- ...args` as an operator would, on this file's database. */
const cli = (args: string[]) => runCli(args, { DATABASE_URL: ctx.config.DATABASE_URL })

/** The schema GET /docs/json publishes for the export route's 200 answer, as a validator. */
async function publishedValidator() {
  const res = await ctx.app.inject({ method: 'GET', url: '/docs/json' })
  expect(res.statusCode).toBe(200)
  const doc = res.json() as {
    paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: { $ref?: string } }> }> }>>
    components: { schemas: Record<string, Record<string, unknown>> }
  }
  const answer = doc.paths['/v1/admin/residents/export']?.post?.responses['200']?.content['application/json']?.schema
  expect(answer?.$ref, 'the 200 answer refers to a published schema').toMatch(/^#\/components\/schemas\//)
  const published = doc.components.schemas[answer!.$ref!.split('/').pop()!]
  expect(published?.title).toBe('SubjectAccessExport')
  // OpenAPI 3.0 writes a nullable field as `nullable: true`, a keyword Ajv 8 knows; not strict,
  // as the document's annotations (example ...) are not JSON Schema; the components ride along
  // so any reference inside resolves as it does in the document
  const ajv = new Ajv({ strict: false, allErrors: true })
  addFormats(ajv)
  return ajv.compile({ ...published, components: doc.components })
}

/** What the database holds about the person's cases, to hold the export against. */
async function heldInDatabase() {
  const ids = async (sql: string) => (await ctx.query<{ id: string | number }>(sql, [caseIds])).map((r) => String(r.id)).sort()
  return {
    messages: await ids('select id from messages where case_id = any($1::bigint[])'),
    attachments: await ids('select mm.sha256 as id from message_media mm join messages m on m.id = mm.message_id where m.case_id = any($1::bigint[])'),
    events: await ids('select id from case_events where case_id = any($1::bigint[])'),
    deliveries: await ids('select public_id as id from deliveries where case_id = any($1::bigint[])'),
    webhookEvents: await ids('select event_id as id from webhook_events where case_id = any($1::bigint[])'),
    updates: (await ids('select id from case_updates where case_id = any($1::bigint[])')).length,
    reads: await ids('select id from access_log where case_id = any($1::bigint[])')
  }
}

function heldInExport(doc: SubjectAccessExport) {
  const all = <T>(pick: (c: SubjectAccessExport['cases'][number]) => T[]) => doc.cases.flatMap(pick)
  return {
    messages: all((c) => c.messages.map((m) => String(m.id))).sort(),
    attachments: all((c) => c.messages.flatMap((m) => m.attachments.map((a) => String(a.sha256)))).sort(),
    events: all((c) => c.events.map((e) => String(e.id))).sort(),
    deliveries: all((c) => c.deliveries.map((d) => d.id)).sort(),
    webhookEvents: all((c) => c.webhook_events.map((w) => w.id)).sort(),
    updates: all((c) => c.council_updates).length,
    reads: all((c) => c.reads.map((r) => String(r.id))).sort()
  }
}

/** No work left in the pipeline: nothing will add a message, event or delivery while the test compares. */
async function settled() {
  await deliveriesSettled(ctx, 20_000)
  await waitFor(async () => {
    const busy = await ctx.query(
      `select 1 from outbox where done_at is null union all select 1 from webhook_events where state = 'pending' union all select 1 from deliveries where state in ('pending', 'retrying')`
    )
    return busy.length === 0
  }, 20_000, 'the pipeline to settle')
}

beforeAll(async () => {
  destination = await startReceiver(() => 200)
  subscription = await startReceiver(() => 200)
  ctx = await createEmailContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN }, { workers: true })
  // Westminster's back office is a signed webhook, and its system subscribes to case events:
  // the export must say which systems got what, never their URLs or secrets
  await useCouncilWebhooks(ctx, WESTMINSTER, {
    destination: { url: destination.url, secret: DESTINATION_SECRET },
    subscription: { url: subscription.url, secret: SUBSCRIPTION_SECRET }
  })

  // the person, on three channels
  const web = await postContact(ctx, { name: PERSON.name, email: PERSON.email, phone: PERSON.phone, postcode: 'SW1A 1AA', service_code: 'missed_bin', description: 'Bins not collected for two weeks' })
  expect(web.statusCode, web.body).toBe(202)
  const sms = await postTwilio(ctx, '/channels/twilio/sms', smsParams({ From: PERSON.phone, To: TRI_BOROUGH_NUMBER, Body: 'Bin not collected at W2 1AA' }))
  expect(sms.statusCode, sms.body).toBe(200)
  await ctx.send({
    from: `${PERSON.name} <${PERSON.email}>`,
    to: TRI_BOROUGH_MAILBOX,
    subject: 'Fly-tipping',
    text: `Fly-tipping at W2 1AA, photo attached.\n\n${PERSON.name}`,
    attachments: [{ filename: 'fly-tipping.png', content: PNG, contentType: 'image/png' }]
  })
  // someone else, whose case must not appear
  const other = await postContact(ctx, { name: OTHER.name, email: OTHER.email, phone: OTHER.phone, postcode: 'SW1A 1AA', service_code: 'missed_bin', description: OTHER.phrase })
  otherReference = (other.json() as { reference: string }).reference

  const cases = await waitFor(async () => {
    const rows = await ctx.query<{ id: number; reference: string; channel: string; resident_id: number }>(
      `select id, reference, channel, resident_id from cases where (reported_email = $1 or reported_phone = $2) and partnership_id is not null order by id`,
      [PERSON.email, PERSON.phone]
    )
    return rows.length === 3 ? rows : null
  }, 20_000, "the person's three cases to be placed")
  expect(cases.map((c) => c.channel).sort()).toEqual(['email', 'sms', 'web'])
  references = cases.map((c) => c.reference)
  caseIds = cases.map((c) => c.id)

  // the signed text proved the number, so it belongs to a resident of its own; an agent who
  // sees it is the same person joins them, as the identity rules require
  const [agent] = await ctx.query<{ id: number }>(
    `insert into agents (partnership_id, email, role, password_hash) values ('tri-borough', 'export.agent@example.org', 'agent', 'not-a-hash') returning id`
  )
  const token = await agentSessions(ctx.infra).sign({ agentId: agent!.id, partnershipId: 'tri-borough', role: 'agent' })
  const web1 = cases.find((c) => c.channel === 'web')!
  const sms1 = cases.find((c) => c.channel === 'sms')!
  expect(web1.resident_id, 'a claim never joins residents').not.toBe(sms1.resident_id)
  const merged = await ctx.app.inject({
    method: 'POST',
    url: '/v1/agent/residents/merge',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ keep: web1.reference, merge: sms1.reference, reason: 'Same person, texting and using the web form' })
  })
  expect(merged.statusCode, merged.body).toBe(200)

  await settled()
  // the council says how it is going; an agent and a council system read the cases
  await applyCouncilUpdate({ db: ctx.infra.db, catalogue: ctx.infra.catalogue, emailDomain: ctx.config.EMAIL_DOMAIN, mailFrom: ctx.config.MAIL_FROM }, web1.id, {
    status: 'in_progress',
    description: 'A crew is on its way',
    forResident: false,
    source: 'test'
  })
  const caseReads = cases.map((c) => ({ id: c.id, reference: c.reference, council_gss: WESTMINSTER }))
  await recordReads(ctx.infra.db, { kind: 'agent', id: `agent:${agent!.id}` }, caseReads, 'GET /v1/agent/cases/:reference')
  const key = await createApiKey(ctx.infra.db, { council: WESTMINSTER }, ['read'])
  await recordReads(ctx.infra.db, { kind: 'council_key', id: `api_key:${key.id}` }, caseReads.slice(0, 1), 'GET /v1/cases/:reference')
  await settled()
}, 90_000)

afterAll(async () => {
  await ctx?.close()
  await destination?.close()
  await subscription?.close()
})

describe('subject access export', () => {
  it('through the API holds every message, event, delivery and read of all three cases, and validates against the published schema', async () => {
    const validate = await publishedValidator()
    const res = await admin('/v1/admin/residents/export', { contact: PERSON.email })
    expect(res.statusCode, res.body).toBe(200)
    const doc = res.json() as SubjectAccessExport

    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true)
    expect(doc.schema).toBe('switchboard.subject-access.v1')
    expect(doc.contact).toEqual({ kind: 'email', value: PERSON.email })
    expect(doc.cases.map((c) => c.reference).sort()).toEqual([...references].sort())
    expect(doc.cases.map((c) => c.channel).sort()).toEqual(['email', 'sms', 'web'])
    expect(doc.cases.flatMap((c) => c.council_updates).map((u) => u.description)).toEqual(['A crew is on its way'])

    // everything the database holds about those cases, by id, including this export's own read
    expect(heldInExport(doc)).toEqual(await heldInDatabase())
    // every case went to Westminster's back office and was announced to its subscription
    for (const c of doc.cases) {
      expect(c.deliveries.map((d) => [d.council_gss, d.kind, d.state])).toEqual([[WESTMINSTER, 'webhook', 'delivered']])
      expect(c.webhook_events.length).toBeGreaterThan(0)
      expect(c.reads.map((r) => r.actor_kind)).toContain('agent')
      expect(c.reads.some((r) => r.route === EXPORT_ROUTE && r.actor_kind === 'operator' && r.actor === 'operator')).toBe(true)
      expect(c.events.every((e) => e.actor !== '')).toBe(true)
    }
    expect(doc.cases.flatMap((c) => c.reads).filter((r) => r.actor_kind === 'council_key')).toHaveLength(1)
    // the agent's merge is on record, with who joined them and why
    expect(doc.resident_merges.map((m) => m.reason)).toEqual(['Same person, texting and using the web form'])
    expect(doc.cases.flatMap((c) => c.events).filter((e) => e.type === 'resident.merged').every((e) => e.actor.startsWith('agent:'))).toBe(true)

    // both residents (the one joined away too), with their contact points verified or claimed
    const points = doc.residents.flatMap((r) => r.contact_points)
    expect(points).toContainEqual(expect.objectContaining({ kind: 'phone', value: PERSON.phone, standing: 'verified', verified_by: 'sms' }))
    expect(points).toContainEqual(expect.objectContaining({ kind: 'email', value: PERSON.email, standing: 'claimed' }))
    expect(doc.residents.map((r) => r.display_name)).toContain(PERSON.name)

    // the attachment is described, its bytes are not there; nor are the systems' secrets or URLs
    const attachment = doc.cases.flatMap((c) => c.messages.flatMap((m) => m.attachments))
    expect(attachment).toEqual([expect.objectContaining({ filename: 'fly-tipping.png', content_type: 'image/png', size_bytes: PNG.length, state: 'stored' })])
    const text = res.body
    for (const secret of [PNG.toString('base64'), PNG.toString('hex'), DESTINATION_SECRET, SUBSCRIPTION_SECRET, destination.url, subscription.url, '127.0.0.1']) {
      expect(text).not.toContain(secret)
    }
    // and nothing of the other person
    for (const theirs of [otherReference, OTHER.name, OTHER.email, OTHER.phone, OTHER.phrase]) expect(text).not.toContain(theirs)

    // the export is in the read log, once per case, under the request that made it
    const logged = await ctx.query<{ reference: string; actor_kind: string; actor: string; route: string }>(
      'select reference, actor_kind, actor, route from access_log where request_id = $1 order by id',
      [res.headers['x-request-id']]
    )
    expect(logged.map((l) => l.reference).sort()).toEqual([...references].sort())
    expect(logged.every((l) => l.actor_kind === 'operator' && l.actor === 'operator' && l.route === EXPORT_ROUTE)).toBe(true)
  })

  it('through the CLI, by the phone number as typed, is the same document, and is recorded as a read from the CLI', async () => {
    const validate = await publishedValidator()
    const run = await cli(['resident', 'export', '--contact', PERSON.phoneAsTyped])
    expect(run.code, run.stderr).toBe(0)
    const doc = JSON.parse(run.stdout) as SubjectAccessExport
    // the CLI prints the object as built, without the API's serialiser: drift from the schema shows here
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true)
    expect(doc.contact).toEqual({ kind: 'phone', value: PERSON.phone })
    expect(doc.cases.map((c) => c.reference).sort()).toEqual([...references].sort())
    expect(heldInExport(doc)).toEqual(await heldInDatabase())
    const fromCli = doc.cases.flatMap((c) => c.reads).filter((r) => r.route === 'cli resident export')
    expect(fromCli.map((r) => r.actor)).toEqual(['operator:cli', 'operator:cli', 'operator:cli'])
    expect(run.stdout).not.toContain(otherReference)
  }, 60_000)

  it('the published schema is strict enough to catch a field it does not describe, or one missing', async () => {
    const validate = await publishedValidator()
    const doc = (await admin('/v1/admin/residents/export', { contact: PERSON.email })).json() as SubjectAccessExport
    expect(validate(doc)).toBe(true)
    const extra = structuredClone(doc) as unknown as { cases: Array<{ messages: Array<Record<string, unknown>> }> }
    extra.cases[0]!.messages[0]!.content = 'bytes'
    expect(validate(extra)).toBe(false)
    const missing = structuredClone(doc) as unknown as { cases: Array<Record<string, unknown>> }
    delete missing.cases[0]!.reads
    expect(validate(missing)).toBe(false)
  })

  it('for a contact nobody holds is a valid document with empty lists; something neither email nor phone is a 400; no key is a 401', async () => {
    const validate = await publishedValidator()
    const res = await admin('/v1/admin/residents/export', { contact: 'nobody.at.all@example.org' })
    expect(res.statusCode, res.body).toBe(200)
    const doc = res.json() as SubjectAccessExport
    expect(validate(doc)).toBe(true)
    expect(doc).toMatchObject({ residents: [], resident_merges: [], sms_opt_outs: [], cases: [], erasure_requests: [] })

    const bad = await admin('/v1/admin/residents/export', { contact: 'not a contact' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ code: 'validation_failed', field: 'contact' })
    expect((await admin('/v1/admin/residents/export', { contact: PERSON.email }, null)).statusCode).toBe(401)
  })
})
