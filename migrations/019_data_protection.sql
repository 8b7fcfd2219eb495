-- Data protection: retention schedules, legal holds, erasure, and a record of every read
-- (docs/data-protection.md). Personal data that expires or is erased is overwritten in
-- place ("redacted"): the rows stay, so a case keeps its reference, council, service,
-- channel and dates for reporting, and every foreign key and replay check keeps working.

-- How long each class of record is kept, per council; a row without a council is the
-- default for every council without its own. Days are counted from the record's own
-- clock: a payload's arrival, a message's creation, a case's last activity, a delivery's
-- settling, a resident's last contact, a read.
create table retention_schedules (
  id            bigint generated always as identity primary key,
  council_gss   text references councils (gss) on delete cascade,
  record_class  text not null check (record_class in ('raw', 'content', 'case', 'delivery', 'resident', 'access_log')),
  keep_days     integer not null check (keep_days between 1 and 36500),
  updated_at    timestamptz not null default now(),
  updated_by    text not null default 'default'
);
create unique index retention_schedules_one on retention_schedules (record_class, coalesce(council_gss, ''));
insert into retention_schedules (record_class, keep_days) values
  ('raw', 90),          -- provider payloads and raw mail: long enough to settle a dispute about what arrived
  ('content', 730),     -- messages, attachments, recordings, transcripts: two years
  ('case', 2190),       -- cases and their events: six years from the last activity
  ('delivery', 365),    -- what went to which council system: a year
  ('resident', 90),     -- a resident with no case left that holds their data
  ('access_log', 730);  -- who read what: two years

-- One pass of the retention job: counts only, never personal data.
create table retention_runs (
  id           bigint generated always as identity primary key,
  started_at   timestamptz not null default clock_timestamp(),
  finished_at  timestamptz,
  as_of        timestamptz not null,
  counts       jsonb not null default '{}'
);

-- What has been redacted, and why. A redacted row is never picked again, so a retention
-- run or an erasure can stop anywhere and the next one carries on.
alter table cases
  add column redacted_at timestamptz,
  add column redaction text check (redaction in ('erasure', 'retention')),
  -- an operator's hold: the case is neither erased nor expired while it is set
  add column legal_hold_reason text,
  add column legal_hold_at timestamptz,
  add column legal_hold_by text,
  add constraint cases_legal_hold_whole check ((legal_hold_reason is null) = (legal_hold_at is null));
create index cases_retention on cases (updated_at) where redacted_at is null;
-- subject access and erasure find the cases reported with a contact, whoever holds it now
create index cases_reported_email on cases (reported_email) where reported_email is not null;
create index cases_reported_phone on cases (reported_phone) where reported_phone is not null;
alter table messages add column redacted_at timestamptz;
create index messages_retention on messages (created_at) where redacted_at is null;
alter table raw_inbound add column redacted_at timestamptz;
create index raw_inbound_retention on raw_inbound (received_at) where redacted_at is null;
alter table inbound_emails add column redacted_at timestamptz;
create index inbound_emails_retention on inbound_emails (received_at) where redacted_at is null;
alter table call_recordings add column redacted_at timestamptz;
alter table residents add column erased_at timestamptz;

-- case_events stays append-only, except that a redaction (a transaction that has set
-- switchboard.redacting) may overwrite an event's reason and data. What happened, to which
-- case, who did it and when can never change, and no event is ever deleted.
drop trigger case_events_no_update on case_events;
drop function case_events_append_only();
create function case_events_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and current_setting('switchboard.redacting', true) = 'on'
     and new.id = old.id and new.case_id = old.case_id and new.type = old.type
     and new.actor = old.actor and new.created_at = old.created_at then
    return new;
  end if;
  raise exception 'case_events is append-only (a redaction may overwrite only reason and data)';
end $$;
create trigger case_events_append_only before update or delete on case_events
  for each row execute function case_events_guard();

-- Every read of a case's personal data by an agent, a council system or an operator.
-- Append-only: nothing updates it, and only the retention job (switchboard.retention set)
-- deletes rows past their schedule. No foreign key: the record outlives nothing it names.
create table access_log (
  id           bigint generated always as identity primary key,
  at           timestamptz not null default clock_timestamp(),
  actor_kind   text not null check (actor_kind in ('agent', 'council_key', 'operator')),
  actor        text not null,          -- 'agent:12', 'api_key:5', 'operator'
  case_id      bigint not null,
  reference    text not null,
  council_gss  text,
  route        text not null,          -- 'GET /v1/cases/:reference'
  request_id   text
);
create index access_log_case on access_log (case_id, id);
create index access_log_reference on access_log (reference, id);
create index access_log_at on access_log (at);
create function access_log_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' and current_setting('switchboard.retention', true) = 'on' then
    return old;
  end if;
  raise exception 'access_log is append-only';
end $$;
create trigger access_log_append_only before update or delete on access_log
  for each row execute function access_log_guard();

-- One erasure request and what came of it. The contact it named is not kept.
create table erasure_requests (
  id             bigint generated always as identity primary key,
  requested_by   text not null,
  reason         text not null check (reason <> ''),
  residents      bigint[] not null default '{}',
  cases_erased   integer not null default 0,
  -- cases under legal hold, left as they were: [{ "reference", "reason" }]
  held           jsonb not null default '[]',
  notices        integer not null default 0,
  created_at     timestamptz not null default clock_timestamp()
);

-- A council system that received a case is told when the case's personal data is erased:
-- a signed case.erased to a webhook destination, a notice to a team mailbox. Sent like a
-- delivery (attempts, backoff, dead letters), once per case and destination.
create table erasure_notices (
  id              bigint generated always as identity primary key,
  public_id       uuid not null unique default gen_random_uuid(),
  erasure_id      bigint references erasure_requests (id),
  case_id         bigint not null references cases (id),
  destination_id  bigint not null references destinations (id),
  kind            text not null check (kind in ('webhook', 'email')),
  state           text not null default 'pending' check (state in ('pending', 'delivered', 'dead')),
  attempts        integer not null default 0,
  last_status     integer,
  last_error      text,
  created_at      timestamptz not null default clock_timestamp(),
  delivered_at    timestamptz,
  unique (case_id, destination_id)
);

alter table outbox drop constraint outbox_topic_check;
alter table outbox add constraint outbox_topic_check
  check (topic in ('case:route', 'case:deliver', 'message:send', 'media:fetch', 'webhook:send', 'erasure:notify'));
-- rows written where no request or job hands them to the queue after commit (a trigger, the CLI)
drop index outbox_fresh_webhooks;
create index outbox_fresh on outbox (id) where topic in ('webhook:send', 'erasure:notify') and done_at is null and relayed_at is null;
