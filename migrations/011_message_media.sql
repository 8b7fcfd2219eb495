-- MMS media, fetched from Twilio by a background job (media:fetch) after the text itself
-- is stored and answered: each medium the message listed gets a row here, with what became
-- of it (stored, refused by the size or type allow-list, or failed) and, once stored, its
-- bytes. The message's own `media` list keeps the URLs whatever happens here.
create table message_media (
  id            bigint generated always as identity primary key,
  message_id    bigint not null references messages (id),
  position      integer not null check (position >= 0),
  url           text not null,
  content_type  text not null,
  state         text not null default 'pending' check (state in ('pending', 'stored', 'refused', 'failed')),
  detail        text,
  size_bytes    integer,
  content       bytea,
  fetched_at    timestamptz,
  unique (message_id, position)
);

alter table outbox drop constraint outbox_topic_check;
alter table outbox add constraint outbox_topic_check check (topic in ('case:route', 'case:deliver', 'message:send', 'media:fetch'));
