import pg from 'pg'
import { withTransaction, type Queryable } from '../db/pool.js'
import { recordReads } from './access-log.js'
import { SUBJECT_ACCESS_VERSION, type SubjectAccessExport } from './export-schema.js'
import { findFootprint, type ContactPoint } from './footprint.js'
import type { CaseRow, DeliveryRow, ErasureRow, EventRow, HookRow, MediaRow, MergeRow, MessageRow, NoticeRow, OptOutRow, PointRow, ReadRow, RecordingRow, ResidentRow, UpdateRow } from './export-rows.js'

export interface ExportOptions {
  /** who asks: 'operator' through the API, 'operator:cli' from the command line */
  actor: string
  /** the route the export is read through, for the read log */
  route?: string
  /** the request's id, for the read log */
  requestId?: string
}

/** The route recorded for an export made with `npm run cli -- resident export`. */
export const CLI_EXPORT_ROUTE = 'cli resident export'

type Doc = SubjectAccessExport
type CaseDoc = Doc['cases'][number]

const iso = (d: Date) => d.toISOString()
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null)

/** Groups rows by a key, keeping their order. */
function byKey<R, K>(rows: R[], key: (r: R) => K): Map<K, R[]> {
  const out = new Map<K, R[]>()
  for (const r of rows) {
    const k = key(r)
    const list = out.get(k)
    if (list) list.push(r)
    else out.set(k, [r])
  }
  return out
}

/**
 * Subject access: one JSON document of everything held about the person at a contact point
 * (the shape is SubjectAccessExport in export-schema.ts). Who the person is comes from
 * findFootprint, so an export covers exactly what an erasure would. The export is itself a
 * read of each case by an operator, and is recorded as one before anything is read, so the
 * document lists its own read and a read that cannot be recorded is not served.
 *
 * One query per table over all the cases, not per case; on a pool they run in one
 * repeatable-read transaction, so the document is one consistent moment (no message without
 * the event that announced it). Given a client, it runs in the caller's transaction.
 */
export async function exportResident(db: Queryable, contact: ContactPoint, opts: ExportOptions): Promise<SubjectAccessExport> {
  if (db instanceof pg.Pool) {
    return withTransaction(db, async (tx) => {
      await tx.query('set transaction isolation level repeatable read')
      return build(tx, contact, opts)
    })
  }
  return build(db, contact, opts)
}

async function build(db: Queryable, contact: ContactPoint, opts: ExportOptions): Promise<Doc> {
  const generatedAt = new Date()
  const { residentIds, caseIds } = await findFootprint(db, contact)

  const cases = await db.query<CaseRow>(
    `select c.id, c.reference, c.channel, c.status, c.work_status, c.priority, c.council_gss, co.name as council_name,
            c.service_code, s.name as service_name, c.team, c.reported_name, c.reported_email, c.reported_phone,
            c.contacted_address, c.description, c.postcode, c.lat, c.lng, c.uprn, c.usrn, c.external_report, c.status_notes, c.council_reference,
            c.back_office_status, c.created_at, c.updated_at, c.routed_at, c.legal_hold_reason, c.legal_hold_at,
            c.legal_hold_by, c.redacted_at, c.redaction
       from cases c
       left join councils co on co.gss = c.council_gss
       left join services s on s.code = c.service_code
      where c.id = any($1::bigint[])
      order by c.id`,
    [caseIds]
  )
  await recordReads(db, { kind: 'operator', id: opts.actor }, cases.rows, opts.route ?? CLI_EXPORT_ROUTE, opts.requestId)

  const points = await db.query<PointRow>(
    `select kind, value, resident_id, verified, verified_at, verified_by, created_at, last_seen_at, failing_since, failing_detail
       from contact_points where resident_id = any($1::bigint[]) order by resident_id, kind, value`,
    [residentIds]
  )
  // the STOP/START state of every number the person is known by (a held number, or the one asked about)
  const phones = [...new Set([...points.rows.filter((p) => p.kind === 'phone').map((p) => p.value), ...(contact.kind === 'phone' ? [contact.value] : [])])]

  // one after another: a client runs one query at a time (pg deprecates queueing them)
  const residents = await db.query<ResidentRow>('select id, display_name, created_at, merged_into, erased_at from residents where id = any($1::bigint[]) order by id', [residentIds])
  const merges = await db.query<MergeRow>(
    `select from_resident, into_resident, actor, reason, created_at from resident_merges
      where from_resident = any($1::bigint[]) or into_resident = any($1::bigint[]) order by id`,
    [residentIds]
  )
  const optOuts = await db.query<OptOutRow>('select phone, opted_out, keyword, changed_at from sms_opt_outs where phone = any($1::text[]) order by phone', [phones])
  const messages = await db.query<MessageRow>(
    `select id, case_id, direction, channel, kind, body, sender, recipient, subject, status, status_changed_at, author, created_at, redacted_at
       from messages where case_id = any($1::bigint[]) order by id`,
    [caseIds]
  )
  // metadata only: the bytes (content) and the provider's URL stay out of the document
  const media = await db.query<MediaRow>(
    `select mm.message_id, mm.position, mm.filename, mm.content_type, mm.size_bytes, mm.state, mm.sha256, mm.inline
       from message_media mm join messages m on m.id = mm.message_id
      where m.case_id = any($1::bigint[]) order by mm.message_id, mm.position`,
    [caseIds]
  )
  const recordings = await db.query<RecordingRow>(
    `select m.id as message_id, m.case_id, r.recording_sid, r.duration_secs, r.transcription_status, r.transcription_text, r.created_at, r.redacted_at
       from call_recordings r
       join messages m on m.channel = 'voice' and m.provider = 'twilio' and m.provider_message_id = r.call_sid
      where m.case_id = any($1::bigint[]) order by r.created_at, r.recording_sid`,
    [caseIds]
  )
  const events = await db.query<EventRow>('select id, case_id, type, actor, reason, data, created_at from case_events where case_id = any($1::bigint[]) order by id', [caseIds])
  const updates = await db.query<UpdateRow>(
    `select case_id, status, description, for_resident, source, external_status_code, updated_at, created_at
       from case_updates where case_id = any($1::bigint[]) order by id`,
    [caseIds]
  )
  // which council system received what: never its URL or secret
  const deliveries = await db.query<DeliveryRow>(
    `select d.public_id as id, d.case_id, de.council_gss, co.name as council_name, de.team, d.kind, d.state, d.attempts, d.created_at, d.delivered_at
       from deliveries d join destinations de on de.id = d.destination_id left join councils co on co.gss = de.council_gss
      where d.case_id = any($1::bigint[]) order by d.id`,
    [caseIds]
  )
  const hooks = await db.query<HookRow>(
    `select e.event_id as id, e.case_id, s.council_gss, e.type, e.state, e.created_at, e.delivered_at
       from webhook_events e join webhook_subscriptions s on s.id = e.subscription_id
      where e.case_id = any($1::bigint[]) order by e.id`,
    [caseIds]
  )
  const notices = await db.query<NoticeRow>(
    `select n.public_id as id, n.case_id, de.council_gss, co.name as council_name, de.team, n.kind, n.state, n.created_at, n.delivered_at
       from erasure_notices n join destinations de on de.id = n.destination_id left join councils co on co.gss = de.council_gss
      where n.case_id = any($1::bigint[]) order by n.id`,
    [caseIds]
  )
  const reads = await db.query<ReadRow>('select id, case_id, at, actor_kind, actor, route from access_log where case_id = any($1::bigint[]) order by id', [caseIds])
  const erasures = await db.query<ErasureRow>(
    'select id, requested_by, reason, cases_erased, held, created_at from erasure_requests where residents && $1::bigint[] order by id',
    [residentIds]
  )

  const pointsOf = byKey(points.rows, (p) => p.resident_id)
  const mediaOf = byKey(media.rows, (m) => m.message_id)
  const messagesOf = byKey(messages.rows, (m) => m.case_id)
  const recordingsOf = byKey(recordings.rows, (r) => r.case_id)
  const eventsOf = byKey(events.rows, (e) => e.case_id)
  const updatesOf = byKey(updates.rows, (u) => u.case_id)
  const deliveriesOf = byKey(deliveries.rows, (d) => d.case_id)
  const hooksOf = byKey(hooks.rows, (h) => h.case_id)
  const noticesOf = byKey(notices.rows, (n) => n.case_id)
  const readsOf = byKey(reads.rows, (r) => r.case_id)

  return {
    schema: SUBJECT_ACCESS_VERSION,
    generated_at: iso(generatedAt),
    contact: { kind: contact.kind, value: contact.value },
    residents: residents.rows.map((r) => ({
      id: r.id,
      display_name: r.display_name,
      created_at: iso(r.created_at),
      merged_into: r.merged_into,
      erased_at: isoOrNull(r.erased_at),
      contact_points: (pointsOf.get(r.id) ?? []).map((p) => ({
        kind: p.kind,
        value: p.value,
        standing: p.verified ? ('verified' as const) : ('claimed' as const),
        verified_at: isoOrNull(p.verified_at),
        verified_by: p.verified_by,
        first_seen_at: iso(p.created_at),
        last_seen_at: iso(p.last_seen_at),
        failing_since: isoOrNull(p.failing_since),
        failing_detail: p.failing_detail
      }))
    })),
    resident_merges: merges.rows.map((m) => ({ ...m, created_at: iso(m.created_at) })),
    sms_opt_outs: optOuts.rows.map((o) => ({ ...o, changed_at: iso(o.changed_at) })),
    cases: cases.rows.map((c): CaseDoc => ({
      reference: c.reference,
      channel: c.channel,
      status: c.status,
      work_status: c.work_status,
      priority: c.priority,
      council_gss: c.council_gss,
      council_name: c.council_name,
      service_code: c.service_code,
      service_name: c.service_name,
      team: c.team,
      reported_name: c.reported_name,
      reported_email: c.reported_email,
      reported_phone: c.reported_phone,
      contacted_address: c.contacted_address,
      description: c.description,
      postcode: c.postcode,
      lat: c.lat,
      lng: c.lng,
      uprn: c.uprn,
      usrn: c.usrn,
      external_report: c.external_report,
      status_notes: c.status_notes,
      council_reference: c.council_reference,
      back_office_status: c.back_office_status,
      created_at: iso(c.created_at),
      updated_at: iso(c.updated_at),
      routed_at: isoOrNull(c.routed_at),
      legal_hold: c.legal_hold_reason !== null && c.legal_hold_at ? { reason: c.legal_hold_reason, at: iso(c.legal_hold_at), by: c.legal_hold_by } : null,
      redacted_at: isoOrNull(c.redacted_at),
      redaction: c.redaction,
      messages: (messagesOf.get(c.id) ?? []).map((m) => ({
        id: m.id,
        direction: m.direction,
        channel: m.channel,
        kind: m.kind,
        body: m.body,
        sender: m.sender,
        recipient: m.recipient,
        subject: m.subject,
        status: m.status,
        status_changed_at: isoOrNull(m.status_changed_at),
        author: m.author,
        created_at: iso(m.created_at),
        redacted_at: isoOrNull(m.redacted_at),
        attachments: (mediaOf.get(m.id) ?? []).map(({ message_id: _, ...a }) => a)
      })),
      recordings: (recordingsOf.get(c.id) ?? []).map((r) => ({
        message_id: r.message_id,
        recording_sid: r.recording_sid,
        duration_secs: r.duration_secs,
        transcription_status: r.transcription_status,
        transcription: r.transcription_text,
        created_at: iso(r.created_at),
        redacted_at: isoOrNull(r.redacted_at)
      })),
      events: (eventsOf.get(c.id) ?? []).map(({ case_id: _, ...e }) => ({ ...e, created_at: iso(e.created_at) })),
      council_updates: (updatesOf.get(c.id) ?? []).map(({ case_id: _, ...u }) => ({ ...u, updated_at: iso(u.updated_at), created_at: iso(u.created_at) })),
      deliveries: (deliveriesOf.get(c.id) ?? []).map(({ case_id: _, ...d }) => ({ ...d, created_at: iso(d.created_at), delivered_at: isoOrNull(d.delivered_at) })),
      webhook_events: (hooksOf.get(c.id) ?? []).map(({ case_id: _, ...h }) => ({ ...h, created_at: iso(h.created_at), delivered_at: isoOrNull(h.delivered_at) })),
      erasure_notices: (noticesOf.get(c.id) ?? []).map(({ case_id: _, ...n }) => ({ ...n, created_at: iso(n.created_at), delivered_at: isoOrNull(n.delivered_at) })),
      reads: (readsOf.get(c.id) ?? []).map(({ case_id: _, ...r }) => ({ ...r, at: iso(r.at) }))
    })),
    erasure_requests: erasures.rows.map((e) => ({ ...e, created_at: iso(e.created_at) }))
  }
}
