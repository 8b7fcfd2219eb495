-- Council systems read and update the cases routed to them: API keys per council (or per
-- partnership, for its operators), Open311, status updates, and webhook subscriptions.

-- Keys are 32 random bytes, so a plain SHA-256 of the key is all that is stored: nothing
-- to brute-force. The prefix (the key's first characters) is what lists show.
create table api_keys (
  id              bigint generated always as identity primary key,
  key_hash        text not null unique,
  prefix          text not null,
  council_gss     text references councils (gss) on delete cascade,
  partnership_id  text references partnerships (id) on delete cascade,
  scopes          text[] not null check (scopes <@ array['read', 'write', 'open311']::text[] and cardinality(scopes) > 0),
  label           text,
  created_at      timestamptz not null default now(),
  revoked_at      timestamptz,
  last_used_at    timestamptz,
  check ((council_gss is null) <> (partnership_id is null))
);

-- Open311 is a channel of its own: council systems and reporting services posting requests.
alter table cases drop constraint cases_channel_check;
alter table cases add constraint cases_channel_check check (channel in ('web', 'sms', 'email', 'voice', 'open311'));

-- Whether a service's requests may be listed publicly (Open311 GET /requests without a
-- key): street problems, never council tax, benefits, housing or care.
alter table services add column public boolean not null default false;
update services set public = true where code in ('missed_bin', 'bulky_waste', 'fly_tipping', 'street_cleaning', 'pothole', 'street_light', 'gritting');

-- What the council's own system says of a case: its reference for it, and its status in
-- the words of Open311's service request updates (open, in_progress, fixed, closed, ...).
alter table cases
  add column council_reference text,
  add column back_office_status text,
  add column status_notes text;
create index cases_council_updated on cases (council_gss, updated_at, id);

-- Status changes, both ways: posted by a council (case API, Open311 servicerequestupdates)
-- or made here. update_id is the Open311 one: the caller's when it gave one.
create table case_updates (
  id              bigint generated always as identity primary key,
  case_id         bigint not null references cases (id),
  update_id       text not null,
  status          text not null,
  description     text not null default '',
  for_resident    boolean not null default false,
  source          text not null,
  external_status_code text,
  updated_at      timestamptz not null default clock_timestamp(),
  created_at      timestamptz not null default clock_timestamp(),
  unique (update_id)
);
create index case_updates_case on case_updates (case_id, id);
create index case_updates_time on case_updates (updated_at, id);

-- A council's status update worded for the resident, per council and status (else built in).
alter table message_templates drop constraint message_templates_kind_check;
alter table message_templates add column status text;
alter table message_templates add constraint message_templates_kind_check
  check (kind in ('sms_acknowledgement', 'sms_ask_postcode', 'email_acknowledgement', 'status_update'));
drop index message_templates_one;
create unique index message_templates_one on message_templates (kind, coalesce(council_gss, ''), coalesce(partnership_id, ''), coalesce(status, ''));

-- A council's webhook: where its events go, signed with its own secret.
create table webhook_subscriptions (
  id           bigint generated always as identity primary key,
  council_gss  text not null references councils (gss) on delete cascade,
  url          text not null,
  secret       text not null,
  events       text[] not null check (events <@ array['case.created', 'case.routed', 'case.updated', 'message.created']::text[] and cardinality(events) > 0),
  active       boolean not null default true,
  created_at   timestamptz not null default now()
);
create index webhook_subscriptions_council on webhook_subscriptions (council_gss) where active;

-- One event for one subscription, and how its delivery went.
create table webhook_events (
  id               bigint generated always as identity primary key,
  event_id         uuid not null default gen_random_uuid() unique,
  subscription_id  bigint not null references webhook_subscriptions (id) on delete cascade,
  case_id          bigint not null references cases (id),
  type             text not null,
  payload          jsonb not null,
  state            text not null default 'pending' check (state in ('pending', 'delivered', 'dead')),
  attempts         integer not null default 0,
  last_status      integer,
  last_error       text,
  created_at       timestamptz not null default clock_timestamp(),
  delivered_at     timestamptz
);
create index webhook_events_dead on webhook_events (subscription_id, id) where state = 'dead';

alter table outbox drop constraint outbox_topic_check;
alter table outbox add constraint outbox_topic_check check (topic in ('case:route', 'case:deliver', 'message:send', 'media:fetch', 'webhook:send'));

-- The case events council systems hear about, as their webhook event types. Fanned out
-- here, in the transaction that records the event, so none is missed and none is sent for
-- work that was rolled back; nothing is done when the case's council has no subscription.
-- A case opened before its council was known (the web, a partnership's number) is announced
-- as created when it is first placed with a council: case.created, then case.routed.
create function webhook_fan_out() returns trigger language plpgsql as $$
declare
  v_type    text;
  v_council text;
begin
  v_type := case
    when new.type = 'case.opened' then 'case.created'
    when new.type in ('case.routed', 'case.rerouted') then 'case.routed'
    when new.type in ('case.updated', 'case.status_changed') then 'case.updated'
    when new.type in ('message.received', 'message.queued', 'note.added') then 'message.created'
  end;
  if v_type is null or not exists (select 1 from webhook_subscriptions where active) then return null; end if;
  select coalesce(c.council_gss, c.requested_council_gss) into v_council from cases c where c.id = new.case_id;
  if v_council is null or not exists (select 1 from webhook_subscriptions s where s.council_gss = v_council and s.active) then
    return null;
  end if;
  with ev as (
    insert into webhook_events (subscription_id, case_id, type, payload)
    select s.id, new.case_id, t.type,
           jsonb_build_object('case_event_id', new.id, 'reason', new.reason, 'actor', new.actor, 'data', new.data)
      from webhook_subscriptions s
      cross join lateral (
        select 'case.created' as type, 1 as ord
         where v_type = 'case.routed'
           and not exists (select 1 from webhook_events w where w.case_id = new.case_id and w.subscription_id = s.id and w.type = 'case.created')
        union all
        select v_type, 2
      ) t
     where s.council_gss = v_council and s.active and t.type = any (s.events)
     order by s.id, t.ord
    returning id
  )
  insert into outbox (topic, payload) select 'webhook:send', jsonb_build_object('webhook_event_id', id) from ev;
  return null;
end $$;
create trigger case_events_webhooks after insert on case_events
  for each row execute function webhook_fan_out();

-- The rows this trigger writes have no request or job to hand them to the queue after
-- commit: the workers look for them every second (src/jobs/outbox-relay.ts relayFresh).
create index outbox_fresh_webhooks on outbox (id) where topic = 'webhook:send' and done_at is null and relayed_at is null;
