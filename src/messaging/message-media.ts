import type { Queryable } from '../db/pool.js'
import type { OutboxRow } from '../jobs/outbox-relay.js'

/**
 * Lists the media of a stored inbound message for fetching: one message_media row and one
 * media:fetch outbox row each, in one statement. A replay of the message adds nothing.
 */
export async function queueMediaFetches(db: Queryable, provider: string, providerMessageId: string): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>(
    `with m as (
       select id, media from messages
        where provider = $1 and provider_message_id = $2 and direction = 'inbound' and jsonb_array_length(media) > 0
     ), listed as (
       insert into message_media (message_id, position, url, content_type)
       select m.id, e.i - 1, e.item->>'url', coalesce(e.item->>'content_type', 'application/octet-stream')
         from m, jsonb_array_elements(m.media) with ordinality as e(item, i)
       on conflict (message_id, position) do nothing
       returning id
     )
     insert into outbox (topic, payload) select 'media:fetch', jsonb_build_object('media_id', id) from listed
     returning id, topic, payload, job_key`,
    [provider, providerMessageId]
  )
  return rows
}

export interface PendingMedia {
  id: number
  url: string
}

export async function pendingMedia(db: Queryable, mediaId: number): Promise<PendingMedia | null> {
  const { rows } = await db.query<PendingMedia>(`select id, url from message_media where id = $1 and state = 'pending'`, [mediaId])
  return rows[0] ?? null
}

/** Records what became of a medium and marks its job done, in one statement. */
export async function settleMedia(
  db: Queryable,
  mediaId: number,
  outboxId: number,
  outcome: { state: 'stored' | 'refused' | 'failed'; detail?: string | null; contentType?: string; bytes?: Buffer }
): Promise<void> {
  await db.query(
    `with settled as (
       update message_media
          set state = $2, detail = $3, content_type = coalesce($4, content_type), content = $5, size_bytes = $6, fetched_at = clock_timestamp()
        where id = $1 and state = 'pending'
     )
     update outbox set done_at = clock_timestamp() where id = $7 and done_at is null`,
    [mediaId, outcome.state, outcome.detail ?? null, outcome.contentType ?? null, outcome.bytes ?? null, outcome.bytes?.length ?? null, outboxId]
  )
}
