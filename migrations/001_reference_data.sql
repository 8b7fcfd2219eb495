-- Reference data: who the councils are, which areas they cover, which services exist and
-- where each council wants its cases delivered.

create table partnerships (
  id          text primary key check (id ~ '^[a-z0-9-]+$'),
  name        text not null,
  operator    text,
  host_gss    text,
  source      text
);

create table councils (
  gss               text primary key check (gss ~ '^[EWSN][0-9]{8}$'),
  name              text not null,
  short_name        text not null unique,
  tier              text not null check (tier in ('london_borough', 'metropolitan_borough', 'unitary', 'county', 'district')),
  county_gss        text references councils (gss),
  default_sla_hours integer not null default 72 check (default_sla_hours > 0),
  -- a district belongs to a county; nothing else does
  check ((tier = 'district') = (county_gss is not null))
);

create table partnership_members (
  partnership_id text not null references partnerships (id) on delete cascade,
  council_gss    text not null references councils (gss) on delete cascade,
  primary key (partnership_id, council_gss)
);
create index partnership_members_council on partnership_members (council_gss);

-- Postcode unit ('LE10 0FR'), sector ('LE10 0') or outcode ('LE10') to council. Many to many:
-- an outcode or sector can straddle councils. Units carry their centroid for the
-- coordinates-to-nearest-postcode lookup.
create table coverage (
  kind        text not null check (kind in ('unit', 'sector', 'outcode')),
  area        text not null,
  council_gss text not null references councils (gss) on delete cascade,
  lat         double precision,
  lng         double precision,
  source      text not null default 'manual',
  primary key (kind, area, council_gss)
);
create index coverage_unit_position on coverage (lat, lng) where kind = 'unit' and lat is not null;

create table services (
  code            text primary key check (code ~ '^[a-z0-9_]+$'),
  name            text not null,
  tier            text not null check (tier in ('upper', 'lower', 'any')),
  keywords        text[] not null default '{}',
  needs_location  boolean not null default false
);

-- Where a council wants cases delivered: per service, or its default (service_code null).
create table destinations (
  id            bigint generated always as identity primary key,
  council_gss   text not null references councils (gss) on delete cascade,
  service_code  text references services (code) on delete cascade,
  team          text not null,
  kind          text not null check (kind in ('webhook', 'email')),
  webhook_url   text,
  webhook_secret text,
  email         text,
  sla_hours     integer check (sla_hours > 0),
  active        boolean not null default true,
  check ((kind = 'webhook') = (webhook_url is not null and webhook_secret is not null)),
  check ((kind = 'email') = (email is not null))
);
create unique index destinations_one_per_service on destinations (council_gss, coalesce(service_code, '')) where active;

-- A phone number or mailbox residents contact that belongs to one council (or to the
-- partnership's shared contact centre when council_gss is null).
create table inbound_addresses (
  channel        text not null check (channel in ('sms', 'voice', 'email', 'web')),
  address        text not null,
  council_gss    text references councils (gss) on delete cascade,
  partnership_id text references partnerships (id) on delete cascade,
  primary key (channel, address)
);
