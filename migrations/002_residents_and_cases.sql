-- Residents, their cases, and everything said on them.

create table residents (
  id            bigint generated always as identity primary key,
  display_name  text,
  created_at    timestamptz not null default now()
);

-- One resident, many ways to reach them. Values are normalised: E.164 phones,
-- lower-cased emails; so the same person texting and emailing is one resident.
create table contact_points (
  kind          text not null check (kind in ('phone', 'email')),
  value         text not null,
  resident_id   bigint not null references residents (id) on delete cascade,
  created_at    timestamptz not null default now(),
  last_seen_at  timestamptz not null default now(),
  primary key (kind, value)
);
create index contact_points_resident on contact_points (resident_id);

create table cases (
  id                    bigint generated always as identity primary key,
  -- unguessable: a resident holding it plus their contact point can see the case
  reference             text not null unique,
  resident_id           bigint not null references residents (id),
  channel               text not null check (channel in ('web', 'sms', 'email', 'voice')),
  status                text not null default 'received'
                        check (status in ('received', 'triage', 'routed', 'with_back_office', 'resolved')),
  priority              text not null default 'normal' check (priority in ('low', 'normal', 'high', 'urgent')),
  partnership_id        text references partnerships (id),
  requested_council_gss text references councils (gss),
  council_gss           text references councils (gss),
  service_code          text references services (code),
  requested_service_code text references services (code),
  team                  text,
  destination_id        bigint references destinations (id),
  postcode              text,
  lat                   double precision,
  lng                   double precision,
  description           text not null default '',
  triage_candidates     text[] not null default '{}',
  sla_due_at            timestamptz,
  created_at            timestamptz not null default clock_timestamp(),
  updated_at            timestamptz not null default clock_timestamp(),
  routed_at             timestamptz
);
create index cases_resident on cases (resident_id);
create index cases_triage on cases (partnership_id, created_at) where status = 'triage';
create index cases_council_status on cases (council_gss, status);

-- Every provider payload exactly as it came, unique per provider message id: a replay is a no-op.
create table raw_inbound (
  id                  bigint generated always as identity primary key,
  provider            text not null,
  provider_message_id text not null,
  channel             text not null,
  payload             jsonb not null,
  payload_hash        text,
  case_id             bigint references cases (id),
  received_at         timestamptz not null default now(),
  unique (provider, provider_message_id)
);

create table messages (
  id                  bigint generated always as identity primary key,
  case_id             bigint not null references cases (id),
  direction           text not null check (direction in ('inbound', 'outbound')),
  channel             text not null,
  body                text not null,
  sender              text,
  recipient           text,
  provider            text,
  provider_message_id text,
  raw_inbound_id      bigint references raw_inbound (id),
  created_at          timestamptz not null default now()
);
create index messages_case on messages (case_id, id);

-- The audit trail. Rows are only ever added: a trigger refuses updates and deletes.
create table case_events (
  id          bigint generated always as identity primary key,
  case_id     bigint not null references cases (id),
  type        text not null,
  actor       text not null,
  reason      text not null,
  data        jsonb not null default '{}',
  created_at  timestamptz not null default clock_timestamp()
);
create index case_events_case on case_events (case_id, id);

create function case_events_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'case_events is append-only';
end $$;
create trigger case_events_no_update before update or delete on case_events
  for each statement execute function case_events_append_only();
