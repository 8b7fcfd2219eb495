import type { Redis } from 'ioredis'
import { withTransaction, type Db, type DbClient } from '../db/pool.js'
import { AppError } from '../errors.js'
import { recordEvent, recordEvents } from '../events/record.js'
import type { Log } from '../logger.js'
import { findFootprint, type ContactPoint } from './footprint.js'
import { eraseResidentRecords, redactCases, redactInboundEmails, redactMessages, redactRawInbound } from './redact.js'
import { scrubRedis } from './redis-scrub.js'

export interface ErasureRequest {
  /**
   * every email address and phone number the resident has shown are theirs: identities are
   * joined only on proof (docs: Identity and trust), so a person who filled in a form and
   * later texted may be two residents here, one per contact point
   */
  contacts: ContactPoint[]
  /** why, e.g. "resident's request by phone, identity checked" — never the resident's details */
  reason: string
  /** who asked for it: 'operator', 'operator:cli' */
  actor: string
}

export interface ErasureResult {
  erasure_id: number
  outcome: 'erased' | 'partly_refused' | 'refused' | 'nothing_held'
  residents: number
  cases_erased: number
  /** the cases left as they were, each with the legal hold's reason */
  held: Array<{ reference: string; reason: string }>
  /** council systems told (signed case.erased to webhooks and subscriptions, notices to team mailboxes) */
  notices: number
}

export interface ErasureDeps {
  db: Db
  redis: Redis
  /** the deployment's Redis key prefix (QUEUE_PREFIX) */
  prefix: string
  log: Log
}

/**
 * The right to erasure for the person at a contact point. In one transaction: their cases
 * are redacted (src/data-protection/redact.ts: the case row stays for the councils' counts,
 * its events keep what happened and who did it, not what was said), any stray raw payload,
 * mail or message naming their address or number is redacted, their resident records and
 * contact points are erased, and every council system that received one of their cases is
 * queued a signed `case.erased`. A case under legal hold is left whole; the refusal and the
 * hold's reason are recorded on the case and on the request, and answered.
 *
 * Redis is scrubbed of the same details before the transaction commits: if Redis cannot be
 * reached nothing is erased and the caller is told to retry (503), rather than erasing
 * Postgres and leaving Redis unchecked with nobody knowing what to look for afterwards.
 */
export async function eraseResident(deps: ErasureDeps, req: ErasureRequest): Promise<ErasureResult> {
  const reason = req.reason.trim()
  if (!reason) throw new AppError('validation_failed', { field: 'reason', message: 'An erasure must say why (the request and how the resident was identified)' })
  return withTransaction(deps.db, async (tx) => {
    if (!req.contacts.length) throw new AppError('validation_failed', { field: 'contacts', message: 'Name at least one email address or phone number' })
    const found = await footprintOfAll(tx, req.contacts)
    const { rows: requestRows } = await tx.query<{ id: string }>(
      `insert into erasure_requests (requested_by, reason, residents) values ($1, $2, $3) returning id`,
      [req.actor, reason, found.residentIds]
    )
    const erasureId = Number(requestRows[0]!.id)
    const { rows: cases } = await tx.query<{ id: string; reference: string; legal_hold_reason: string | null; reported_name: string | null; reported_email: string | null; reported_phone: string | null }>(
      `select id, reference, legal_hold_reason, reported_name, reported_email, reported_phone
         from cases where id = any($1::bigint[]) order by id for update`,
      [found.caseIds]
    )
    const held = cases.filter((c) => c.legal_hold_reason !== null)
    const toErase = cases.filter((c) => c.legal_hold_reason === null).map((c) => Number(c.id))

    // what to look for where records are not linked to the resident: their addresses,
    // numbers and names as given, before the redaction below overwrites them
    const needles = await needlesFor(tx, req.contacts, found.residentIds, cases.filter((c) => c.legal_hold_reason === null))

    await recordEvents(
      tx,
      held.map((c) => ({
        caseId: Number(c.id),
        type: 'erasure.refused',
        actor: req.actor,
        reason: `Erasure request #${erasureId} refused: the case is under legal hold (${c.legal_hold_reason})`,
        data: { erasure_id: erasureId }
      }))
    )

    const { ids: erased } = await redactCases(tx, toErase, 'erasure')
    await recordEvents(
      tx,
      erased.map((id) => ({ caseId: id, type: 'case.erased', actor: req.actor, reason: `Personal data erased on request #${erasureId}`, data: { erasure_id: erasureId } }))
    )
    const notices = await queueNotices(tx, erasureId, erased)
    await redactStrays(tx, needles, held.map((c) => Number(c.id)))
    const people = await eraseResidentRecords(tx, found.residentIds)

    // last, so a Redis that cannot be reached rolls all of this back
    const scrubbed = await scrubRedis(deps.redis, deps.prefix, needles).catch((err: Error) => {
      throw new AppError('temporarily_unavailable', { message: `Redis could not be checked for the resident's details (${err.message}); nothing was erased, retry shortly` })
    })

    const heldList = held.map((c) => ({ reference: c.reference, reason: c.legal_hold_reason! }))
    await tx.query(`update erasure_requests set cases_erased = $2, held = $3, notices = $4 where id = $1`, [erasureId, erased.length, JSON.stringify(heldList), notices])
    const outcome: ErasureResult['outcome'] = !cases.length && !found.residentIds.length ? 'nothing_held' : held.length ? (erased.length ? 'partly_refused' : 'refused') : 'erased'
    deps.log.info(
      { erasureId, outcome, residents: found.residentIds.length, casesErased: erased.length, casesHeld: held.length, notices, redisKeysChecked: scrubbed.keysChecked, redisChanged: scrubbed.changed },
      'erasure request carried out'
    )
    return { erasure_id: erasureId, outcome, residents: people.residents, cases_erased: erased.length, held: heldList, notices }
  })
}

/** The footprints of several contact points, as one. */
async function footprintOfAll(tx: DbClient, contacts: ContactPoint[]): Promise<{ residentIds: number[]; caseIds: number[] }> {
  const residents = new Set<number>()
  const cases = new Set<number>()
  for (const contact of contacts) {
    const found = await findFootprint(tx, contact)
    found.residentIds.forEach((id) => residents.add(id))
    found.caseIds.forEach((id) => cases.add(id))
  }
  return { residentIds: [...residents].sort((a, b) => a - b), caseIds: [...cases].sort((a, b) => a - b) }
}

/** The strings that identify the person: every address and number they hold or reported with, and the names they gave. */
async function needlesFor(tx: DbClient, contacts: ContactPoint[], residentIds: number[], cases: Array<{ reported_name: string | null; reported_email: string | null; reported_phone: string | null }>): Promise<string[]> {
  const { rows } = await tx.query<{ value: string }>(
    `select value from contact_points where resident_id = any($1::bigint[])
     union select display_name from residents where id = any($1::bigint[]) and display_name is not null`,
    [residentIds]
  )
  const all = [...contacts.map((c) => c.value), ...rows.map((r) => r.value)]
  for (const c of cases) all.push(...[c.reported_name, c.reported_email, c.reported_phone].filter((v): v is string => !!v))
  // a UK number is also written nationally, 07700900123, in what providers send back
  for (const v of [...all]) if (v.startsWith('+44')) all.push(`0${v.slice(3)}`)
  return [...new Set(all)]
}

/**
 * Each council system that received an erased case hears of it: a notice per delivered
 * destination (signed webhook or team mail, src/data-protection/erasure-notices.ts), and a
 * case.erased event to each webhook subscription that was sent events about the case. The
 * outbox rows are relayed by the workers (relayFresh), so the CLI needs no queue.
 */
async function queueNotices(tx: DbClient, erasureId: number, caseIds: number[]): Promise<number> {
  if (!caseIds.length) return 0
  const notices = await tx.query(
    `with n as (
       insert into erasure_notices (erasure_id, case_id, destination_id, kind)
       select distinct $1::bigint, d.case_id, d.destination_id, d.kind
         from deliveries d where d.case_id = any($2::bigint[]) and d.state = 'delivered'
       on conflict (case_id, destination_id) do nothing
       returning id
     )
     insert into outbox (topic, payload) select 'erasure:notify', jsonb_build_object('notice_id', id) from n`,
    [erasureId, caseIds]
  )
  const hooks = await tx.query(
    `with e as (
       insert into webhook_events (subscription_id, case_id, type, payload)
       select s.id, w.case_id, 'case.erased', jsonb_build_object('erasure_id', $1::bigint)
         from (select distinct subscription_id, case_id from webhook_events
                where case_id = any($2::bigint[]) and state = 'delivered' and type <> 'case.erased') w
         join webhook_subscriptions s on s.id = w.subscription_id and s.active
       returning id
     )
     insert into outbox (topic, payload) select 'webhook:send', jsonb_build_object('webhook_event_id', id) from e`,
    [erasureId, caseIds]
  )
  return (notices.rowCount ?? 0) + (hooks.rowCount ?? 0)
}

/**
 * Records that name the person but hang off no case of theirs: a provider payload with
 * their number that opened nothing (a STOP, a replayed or refused message), a quarantined
 * mail from their address, a message sent to them on someone else's case. Found by
 * looking, which scans those tables: erasure is rare and this is how it is complete.
 */
async function redactStrays(tx: DbClient, needles: string[], heldCaseIds: number[]): Promise<void> {
  const points = needles.filter((n) => n.includes('@') || /^\+?[0-9]{7,}$/.test(n))
  if (!points.length) return
  const patterns = points.map((p) => `%${p.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`)
  const raw = await tx.query<{ id: string }>(
    `select id from raw_inbound where redacted_at is null and payload::text ilike any ($1::text[])
        and (case_id is null or case_id <> all ($2::bigint[]))`,
    [patterns, heldCaseIds]
  )
  await redactRawInbound(tx, raw.rows.map((r) => Number(r.id)))
  const mails = await tx.query<{ id: string }>(
    `select e.id from inbound_emails e left join raw_inbound r on r.id = e.raw_inbound_id
      where e.redacted_at is null
        and (r.case_id is null or r.case_id <> all ($2::bigint[]))
        and (lower(e.envelope_from) = any ($1::text[]) or exists (select 1 from unnest($1::text[]) p where position(convert_to(p, 'UTF8') in e.bytes) > 0))`,
    [points.map((p) => p.toLowerCase()), heldCaseIds]
  )
  await redactInboundEmails(tx, mails.rows.map((m) => Number(m.id)))
  const messages = await tx.query<{ id: string }>(
    `select id from messages where redacted_at is null and (sender ilike any ($1::text[]) or recipient ilike any ($1::text[]))
        and case_id <> all ($2::bigint[])`,
    [patterns, heldCaseIds]
  )
  await redactMessages(tx, messages.rows.map((m) => Number(m.id)))
}

/** Puts a case under legal hold: neither erasure nor retention touches it until released. */
export async function setLegalHold(db: Db, reference: string, reason: string, actor: string): Promise<{ reference: string; reason: string; at: string }> {
  const why = reason.trim()
  if (!why) throw new AppError('validation_failed', { field: 'reason', message: 'A legal hold must say why' })
  return withTransaction(db, async (tx) => {
    const { rows } = await tx.query<{ id: string; reference: string; at: Date; redacted_at: Date | null }>(
      `update cases set legal_hold_reason = $2, legal_hold_at = coalesce(legal_hold_at, now()), legal_hold_by = $3
        where reference = $1 returning id, reference, legal_hold_at as at, redacted_at`,
      [reference, why, actor]
    )
    const c = rows[0]
    if (!c) throw new AppError('not_found', { message: 'No case with this reference' })
    await recordEvent(tx, { caseId: Number(c.id), type: 'legal_hold.set', actor, reason: `Legal hold: ${why}` })
    return { reference: c.reference, reason: why, at: c.at.toISOString() }
  })
}

/** Releases a case's legal hold; erasure and retention apply to it again. */
export async function releaseLegalHold(db: Db, reference: string, actor: string): Promise<{ reference: string; released: boolean }> {
  return withTransaction(db, async (tx) => {
    const { rows } = await tx.query<{ id: string; held: boolean }>(
      `select id, legal_hold_at is not null as held from cases where reference = $1 for update`,
      [reference]
    )
    const c = rows[0]
    if (!c) throw new AppError('not_found', { message: 'No case with this reference' })
    if (!c.held) return { reference, released: false }
    await tx.query(`update cases set legal_hold_reason = null, legal_hold_at = null, legal_hold_by = null where id = $1`, [c.id])
    await recordEvent(tx, { caseId: Number(c.id), type: 'legal_hold.released', actor, reason: 'Legal hold released' })
    return { reference, released: true }
  })
}
