import type { PoolClient } from 'pg'

/**
 * Overwriting personal data in place, for erasure and for retention alike. Each function
 * takes a client inside the caller's transaction, touches only rows not redacted before
 * (so running it twice changes nothing) and returns how many rows it changed. What is
 * personal is what docs/data-protection.md says; test/data-protection checks every column
 * listed there as personal is empty after a redaction.
 *
 * Written as plain SQL rather than through a library: it is a handful of UPDATEs whose
 * whole point is to name each column, next to the inventory that lists them.
 */

/** What an overwritten free-text field reads. */
export const REDACTED = '(redacted)'

/** Lets this transaction overwrite case events' reason and data (case_events_guard, src/data-protection/sql/guards.sql). */
export async function allowRedaction(client: PoolClient): Promise<void> {
  await client.query(`select set_config('switchboard.redacting', 'on', true)`)
}

export interface CaseRedaction {
  cases: number
  events: number
  messages: number
  media: number
  recordings: number
  raw: number
  emails: number
  updates: number
  merges: number
  deliveries: number
  webhookEvents: number
}

/**
 * Redacts whole cases: the reported details, description and exact location (the postcode
 * keeps its outward code, "SW1A", for reporting by area), every event's reason and data,
 * the messages, media, recordings and raw payloads on them, council updates' wording, merge
 * notes, and what deliveries and webhook events recorded. The case row stays, with its
 * reference, council, service, channel, status and dates. A case under legal hold is left
 * alone. Returns the counts and the ids actually redacted.
 */
export async function redactCases(client: PoolClient, caseIds: number[], redaction: 'erasure' | 'retention'): Promise<{ ids: number[]; counts: CaseRedaction }> {
  await allowRedaction(client)
  const { rows } = await client.query<{ id: string }>(
    `update cases set reported_name = null, reported_email = null, reported_phone = null, description = '',
            postcode = nullif(split_part(coalesce(postcode, ''), ' ', 1), ''), lat = null, lng = null,
            status_notes = null, contacted_address = null, redacted_at = now(), redaction = $2,
            -- a property number can point at a home, and a reporting client's title and closest address are the reporter's
            uprn = null, external_report = null,
            -- a reply to an old mail thread opens a new case rather than landing on this one
            reply_token = null
      where id = any($1::bigint[]) and redacted_at is null and legal_hold_at is null
      returning id`,
    [caseIds, redaction]
  )
  const ids = rows.map((r) => Number(r.id))
  const counts: CaseRedaction = { cases: ids.length, events: 0, messages: 0, media: 0, recordings: 0, raw: 0, emails: 0, updates: 0, merges: 0, deliveries: 0, webhookEvents: 0 }
  if (!ids.length) return { ids, counts }
  const events = await client.query(
    `update case_events set reason = $2, data = '{}' where case_id = any($1::bigint[]) and (reason <> $2 or data <> '{}')`,
    [ids, REDACTED]
  )
  counts.events = events.rowCount ?? 0
  const messages = await client.query<{ id: string }>(`select id from messages where case_id = any($1::bigint[]) and redacted_at is null`, [ids])
  Object.assign(counts, await redactMessages(client, messages.rows.map((m) => Number(m.id))))
  const raw = await client.query<{ id: string }>(`select id from raw_inbound where case_id = any($1::bigint[]) and redacted_at is null`, [ids])
  const rawDone = await redactRawInbound(client, raw.rows.map((r) => Number(r.id)))
  counts.raw = rawDone.raw
  counts.emails = rawDone.emails
  const updates = await client.query(`update case_updates set description = '' where case_id = any($1::bigint[]) and description <> ''`, [ids])
  counts.updates = updates.rowCount ?? 0
  const merges = await client.query(
    `update case_merges set reason = $2 where (from_case = any($1::bigint[]) or into_case = any($1::bigint[])) and reason <> $2`,
    [ids, REDACTED]
  )
  counts.merges = merges.rowCount ?? 0
  const deliveries = await client.query(`update deliveries set last_error = null where case_id = any($1::bigint[]) and last_error is not null`, [ids])
  counts.deliveries = deliveries.rowCount ?? 0
  // a webhook event's payload is the case event it announced: its reason and data go too
  const hooks = await client.query(
    `update webhook_events set payload = jsonb_build_object('case_event_id', payload->'case_event_id', 'redacted', true)
      where case_id = any($1::bigint[]) and not (payload ? 'redacted')`,
    [ids]
  )
  counts.webhookEvents = hooks.rowCount ?? 0
  return { ids, counts }
}

/**
 * Redacts messages: their text, addresses, subject, HTML, media list and thread headers,
 * their media's bytes, names and URLs, and the recording and transcription of a voicemail.
 */
export async function redactMessages(client: PoolClient, messageIds: number[]): Promise<{ messages: number; media: number; recordings: number }> {
  if (!messageIds.length) return { messages: 0, media: 0, recordings: 0 }
  const { rows } = await client.query<{ id: string; call_sid: string | null }>(
    `update messages set body = '', sender = null, recipient = null, subject = null, html = null, media = '[]',
            thread_headers = null, status_detail = null, redacted_at = now()
      where id = any($1::bigint[]) and redacted_at is null
      returning id, case when channel = 'voice' then provider_message_id end as call_sid`,
    [messageIds]
  )
  const ids = rows.map((r) => Number(r.id))
  if (!ids.length) return { messages: 0, media: 0, recordings: 0 }
  const media = await client.query(
    `update message_media set url = null, content = null, filename = null, content_id = null, detail = null
      where message_id = any($1::bigint[]) and (url is not null or content is not null or filename is not null or content_id is not null or detail is not null)`,
    [ids]
  )
  const calls = rows.map((r) => r.call_sid).filter((s): s is string => !!s)
  const recordings = calls.length
    ? await client.query(
        `update call_recordings set url = null, transcription_text = null, redacted_at = now(), updated_at = now()
          where call_sid = any($1::text[]) and redacted_at is null`,
        [calls]
      )
    : { rowCount: 0 }
  return { messages: ids.length, media: media.rowCount ?? 0, recordings: recordings.rowCount ?? 0 }
}

/**
 * Redacts provider payloads and the raw mail kept with them. The row stays with its
 * provider's message id and hash, so a provider that replays the message still gets the
 * first answer and nothing is stored twice.
 */
export async function redactRawInbound(client: PoolClient, rawIds: number[]): Promise<{ raw: number; emails: number }> {
  if (!rawIds.length) return { raw: 0, emails: 0 }
  const raw = await client.query(
    `update raw_inbound set payload = '{}', redacted_at = now() where id = any($1::bigint[]) and redacted_at is null`,
    [rawIds]
  )
  const emails = await client.query<{ id: string }>(`select id from inbound_emails where raw_inbound_id = any($1::bigint[]) and redacted_at is null`, [rawIds])
  return { raw: raw.rowCount ?? 0, emails: await redactInboundEmails(client, emails.rows.map((e) => Number(e.id))) }
}

/** Redacts raw mail: its bytes, envelope sender, subject and quarantine note. A mail still in quarantine is discarded. */
export async function redactInboundEmails(client: PoolClient, ids: number[]): Promise<number> {
  if (!ids.length) return 0
  const { rowCount } = await client.query(
    `update inbound_emails
        set bytes = null, envelope_from = null, subject = null, reason = null, redacted_at = now(),
            state = case when state = 'quarantined' then 'discarded' else state end,
            decided_by = case when state = 'quarantined' then 'redaction' else decided_by end,
            decided_at = case when state = 'quarantined' then now() else decided_at end
      where id = any($1::bigint[]) and redacted_at is null`,
    [ids]
  )
  return rowCount ?? 0
}

/**
 * Erases residents as people: their name, every contact point, the notes on merges that
 * joined them, and the STOP/START record of their phone numbers. The resident row stays
 * (cases point at it) with erased_at set.
 */
export async function eraseResidentRecords(client: PoolClient, residentIds: number[]): Promise<{ residents: number; contactPoints: number; optOuts: number }> {
  if (!residentIds.length) return { residents: 0, contactPoints: 0, optOuts: 0 }
  const points = await client.query<{ kind: string; value: string }>(
    `delete from contact_points where resident_id = any($1::bigint[]) returning kind, value`,
    [residentIds]
  )
  const phones = points.rows.filter((p) => p.kind === 'phone').map((p) => p.value)
  const optOuts = phones.length ? await client.query(`delete from sms_opt_outs where phone = any($1::text[])`, [phones]) : { rowCount: 0 }
  await client.query(
    `update resident_merges set reason = $2 where (from_resident = any($1::bigint[]) or into_resident = any($1::bigint[])) and reason <> $2`,
    [residentIds, REDACTED]
  )
  const residents = await client.query(
    `update residents set display_name = null, erased_at = coalesce(erased_at, now()) where id = any($1::bigint[]) and (display_name is not null or erased_at is null)`,
    [residentIds]
  )
  return { residents: residents.rowCount ?? 0, contactPoints: points.rowCount ?? 0, optOuts: optOuts.rowCount ?? 0 }
}
