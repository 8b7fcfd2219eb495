import type { Db, Queryable } from '../db/pool.js'
import { AppError } from '../errors.js'
import { eventsFrom, sql } from '../events/record.js'
import type { OutboxRow } from '../jobs/outbox-relay.js'
import type { ThreadHeaders } from './email-outbound.js'
import { statusRank } from './status.js'

/**
 * Queues a reply to the resident on the channel they used, with its outbox row for the
 * message:send queue, in one statement. For now a case opened by text is answered by text,
 * from the number the resident texted; other channels join as they get an outbound
 * transport (email with the email channel). `author` is who wrote it ('operator', 'agent:7').
 */
export async function queueReply(db: Queryable, reference: string, body: string, author: string): Promise<{ messageId: number; outbox: OutboxRow }> {
  const event = eventsFrom(
    { from: 'm', caseId: sql('case_id'), type: 'message.queued', actor: author, reason: 'A reply to the resident was queued to go by SMS', data: { message_id: sql<number>('id') } },
    [reference, body, author]
  )
  const { rows } = await db.query<{ found: boolean; channel: string | null; message_id: number | null } & Partial<OutboxRow>>(
    `with c as (
       select id, channel, reported_phone, contacted_address from cases where reference = $1
     ), m as (
       insert into messages (case_id, direction, channel, body, sender, recipient, provider, status, status_rank, status_changed_at, author)
       select id, 'outbound', 'sms', $2, contacted_address, reported_phone, 'twilio', 'pending', 0, clock_timestamp(), $3
         from c where channel = 'sms' and reported_phone is not null and contacted_address is not null
       returning id, case_id
     ), event as (${event.text}), o as (
       insert into outbox (topic, payload) select 'message:send', jsonb_build_object('message_id', id) from m
       returning id, topic, payload, job_key
     )
     select exists (select 1 from c) as found, (select channel from c) as channel, (select id from m) as message_id,
            o.id, o.topic, o.payload, o.job_key
       from (select 1) one left join o on true`,
    event.values
  )
  const row = rows[0]
  if (!row?.found) throw new AppError('not_found', { message: 'No case with this reference' })
  if (row.message_id === null || row.id === undefined || row.id === null) {
    throw new AppError('reply_channel_unavailable', { message: `A ${row.channel} case cannot be answered from here yet: replies go by SMS or email, on the channel the case came by` })
  }
  return { messageId: row.message_id, outbox: { id: row.id, topic: row.topic!, payload: row.payload!, job_key: row.job_key! } }
}

/** The outbound message a send job is for, if it is still waiting to go. */
export interface PendingMessage {
  id: number
  case_id: number
  channel: string
  body: string
  sender: string | null
  recipient: string | null
  /** email: what the mail carries besides the body, and its case's reply token and reference */
  subject: string | null
  provider_message_id: string | null
  thread_headers: ThreadHeaders | null
  reply_token: string | null
  reference: string
}

export async function pendingMessage(db: Queryable, messageId: number): Promise<PendingMessage | null> {
  const { rows } = await db.query<PendingMessage>({
    name: 'send-read-message',
    text: `select m.id, m.case_id, m.channel, m.body, m.sender, m.recipient, m.subject, m.provider_message_id, m.thread_headers, c.reply_token, c.reference
             from messages m join cases c on c.id = m.case_id
            where m.id = $1 and m.direction = 'outbound' and m.status = 'pending'`,
    values: [messageId]
  })
  return rows[0] ?? null
}

/**
 * Settles a message's send: its status (and the provider's id for it), an event on the case,
 * and the job's outbox row done, in one statement. A status is only ever moved forward.
 */
export async function settleMessage(
  db: Queryable,
  m: { id: number; caseId: number; outboxId: number },
  outcome: { status: string; providerMessageId?: string | null; detail?: string | null; event: 'message.sent' | 'message.kept' | 'message.failed' | 'message.blocked'; reason: string }
): Promise<void> {
  const event = eventsFrom(
    { from: 'settled', caseId: m.caseId, type: outcome.event, actor: 'worker:send', reason: outcome.reason, data: { message_id: m.id, status: outcome.status } },
    [m.id, outcome.status, statusRank(outcome.status), outcome.providerMessageId ?? null, outcome.detail ?? null, m.outboxId]
  )
  await db.query({
    name: 'send-settle-message',
    text: `with settled as (
       update messages set status = $2, status_rank = $3, provider_message_id = coalesce($4, provider_message_id),
                           status_detail = $5, status_changed_at = clock_timestamp()
        where id = $1 and status_rank < $3
       returning id
     ), event as (${event.text})
     update outbox set done_at = clock_timestamp() where id = $6 and done_at is null`,
    values: event.values
  })
}

/** Marks a send job's outbox row done when its message was settled already (a duplicate job). */
export async function markSendDone(db: Queryable, outboxId: number): Promise<void> {
  await db.query('update outbox set done_at = clock_timestamp() where id = $1 and done_at is null', [outboxId])
}

/**
 * A delivery report from the provider (Twilio's status callback): applied only when it moves
 * the message forward. Returns whether it did.
 */
export async function applyStatusReport(db: Db, provider: string, providerMessageId: string, status: string, detail: string | null): Promise<boolean> {
  const { rowCount } = await db.query(
    `update messages set status = $3, status_rank = $4, status_detail = coalesce($5, status_detail), status_changed_at = clock_timestamp()
      where provider = $1 and provider_message_id = $2 and direction = 'outbound' and status_rank < $4`,
    [provider, providerMessageId, status, statusRank(status), detail]
  )
  return (rowCount ?? 0) > 0
}

/**
 * Queues an automatic text to a resident on a case (an acknowledgement that cannot ride on
 * a webhook's answer, such as a voicemail's), with its outbox row, in one statement. The
 * send worker still checks the number's opt-out before anything goes.
 */
export async function queueText(db: Queryable, m: { caseId: number; to: string; from: string; body: string; author: string; why: string }): Promise<OutboxRow> {
  const event = eventsFrom(
    { from: 'm', caseId: sql('case_id'), type: 'message.queued', actor: m.author, reason: m.why, data: { message_id: sql<number>('id') } },
    [m.caseId, m.body, m.from, m.to, m.author]
  )
  const { rows } = await db.query<OutboxRow>(
    `with m as (
       insert into messages (case_id, direction, channel, body, sender, recipient, provider, status, status_rank, status_changed_at, author)
       values ($1, 'outbound', 'sms', $2, $3, $4, 'twilio', 'pending', 0, clock_timestamp(), $5)
       returning id, case_id
     ), event as (${event.text})
     insert into outbox (topic, payload) select 'message:send', jsonb_build_object('message_id', id) from m
     returning id, topic, payload, job_key`,
    event.values
  )
  return rows[0]!
}
