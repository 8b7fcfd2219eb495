-- Messages to residents go out through one queue, message:send, whatever their channel:
-- the outbound row is written with its outbox row, and the worker sends it.
alter table outbox drop constraint outbox_topic_check;
alter table outbox add constraint outbox_topic_check check (topic in ('case:route', 'case:deliver', 'message:send'));

-- An outbound message's delivery as the provider reports it. `status` only ever moves
-- forward (callbacks arrive out of order): 'pending' (not yet handed over), then the
-- provider's own (queued, sent, delivered ...), or 'blocked' when it must not be sent
-- (the number said STOP) and 'failed' when it could not be.
alter table messages
  add column status text,
  add column status_rank integer not null default 0,
  add column status_detail text,
  add column status_changed_at timestamptz,
  add column author text;
create unique index messages_provider_id on messages (provider, provider_message_id)
  where direction = 'outbound' and provider_message_id is not null;
