-- Calls (the voice channel). A call is one case, opened through switchboard_intake with
-- the CallSid as its provider message id (a replayed webhook is a no-op); its voicemail is
-- that case's message.

-- A voicemail's recording and its transcription, keyed by Twilio's RecordingSid. Twilio
-- sends them in separate callbacks, in either order: each callback upserts its half here
-- and then rewrites the call's message from the whole row, so whichever comes last leaves
-- the message complete.
create table call_recordings (
  recording_sid         text primary key,
  call_sid              text not null,
  url                   text,
  duration_secs         integer,
  transcription_status  text check (transcription_status in ('completed', 'failed')),
  transcription_text    text,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now()
);
create index call_recordings_call on call_recordings (call_sid);

-- The message a call opened, found by its CallSid.
create index messages_voice_call on messages (provider, provider_message_id) where channel = 'voice';
