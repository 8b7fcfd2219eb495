import type { Queryable } from '../../db/pool.js'
import { recordEvent } from '../../events/record.js'
import { VOICEMAIL_FAILED, VOICEMAIL_PENDING } from './voice.js'

export interface RecordingHalf {
  recordingSid: string
  callSid: string
  url?: string | null
  durationSecs?: number | null
  transcription?: { status: 'completed' | 'failed'; text: string | null } | null
}

/**
 * Stores what one callback knows of a voicemail (the recording, or its transcription) and
 * rewrites the call's message from everything known so far: the transcription as its body
 * (a placeholder until it comes), the recording as its media. One statement, so the two
 * callbacks serialise on the recording's row: whichever runs second sees the other's half,
 * and if the message does not exist yet, the callback that opens the case applies it.
 * Returns whether a message was updated.
 */
export async function saveRecordingHalf(db: Queryable, half: RecordingHalf): Promise<boolean> {
  const { rowCount } = await db.query(
    `with r as (
       insert into call_recordings as cr (recording_sid, call_sid, url, duration_secs, transcription_status, transcription_text)
       values ($1, $2, $3, $4, $5, $6)
       on conflict (recording_sid) do update
         set url = coalesce(excluded.url, cr.url),
             duration_secs = coalesce(excluded.duration_secs, cr.duration_secs),
             -- a completed transcription is never replaced by a later failure or replay
             transcription_status = case when cr.transcription_status = 'completed' then cr.transcription_status
                                         else coalesce(excluded.transcription_status, cr.transcription_status) end,
             transcription_text = case when cr.transcription_status = 'completed' then cr.transcription_text
                                       else coalesce(excluded.transcription_text, cr.transcription_text) end,
             updated_at = now()
       returning *
     )
     update messages m
        set body = case when r.transcription_status = 'completed' and coalesce(r.transcription_text, '') <> '' then r.transcription_text
                        when r.transcription_status is not null then $7
                        else $8 end,
            media = case when r.url is null then m.media
                         else jsonb_build_array(jsonb_build_object('url', r.url, 'content_type', 'audio/wav')) end
       from r
      where m.channel = 'voice' and m.provider = 'twilio' and m.provider_message_id = r.call_sid`,
    [
      half.recordingSid,
      half.callSid,
      half.url ?? null,
      half.durationSecs ?? null,
      half.transcription?.status ?? null,
      half.transcription ? half.transcription.text : null,
      VOICEMAIL_FAILED,
      VOICEMAIL_PENDING
    ]
  )
  return (rowCount ?? 0) > 0
}

/** Logs on the case that its caller waits in a queue for an agent. */
export async function recordCallQueued(db: Queryable, caseId: number, callSid: string, queue: string): Promise<void> {
  await recordEvent(db, {
    caseId,
    type: 'call.queued',
    actor: 'intake:voice',
    reason: 'The caller asked to speak to someone and waits in the queue',
    data: { call_sid: callSid, queue }
  })
}
