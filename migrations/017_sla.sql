-- SLA clocks: how fast a council promises a first response and a resolution, counted in
-- its business hours, and the marks the clock worker (workers/sla.ts) leaves on each case.

-- Public holidays per calendar ('england-and-wales' as gov.uk names its division), loaded
-- from seeds/bank-holidays.json.
create table bank_holidays (
  calendar  text not null check (calendar ~ '^[a-z-]+$'),
  day       date not null,
  title     text not null,
  primary key (calendar, day)
);

-- Each council's working week: its days (ISO, 1 = Monday), opening hours in its time zone,
-- and the holiday calendar it keeps.
alter table councils
  add column calendar text not null default 'england-and-wales',
  add column business_days smallint[] not null default '{1,2,3,4,5}'
    check (cardinality(business_days) > 0 and business_days <@ '{1,2,3,4,5,6,7}'),
  add column business_opens time not null default '09:00',
  add column business_closes time not null default '17:00',
  add column business_time_zone text not null default 'Europe/London',
  add constraint councils_business_hours check (business_opens < business_closes);

-- Targets in business hours, per council and service; service_code null is the council's
-- default. Fractions of an hour are allowed (a 15-minute first response is 0.25).
create table sla_targets (
  id                   bigint generated always as identity primary key,
  council_gss          text not null references councils (gss) on delete cascade,
  service_code         text references services (code) on delete cascade,
  first_response_hours double precision not null check (first_response_hours > 0),
  resolution_hours     double precision not null check (resolution_hours > 0)
);
create unique index sla_targets_one_per_service on sla_targets (council_gss, coalesce(service_code, ''));

-- Two clocks per case. *_warn_at is when a fifth of the target time is left; *_warned_at and
-- *_breached_at are set in the statement that writes the event, so each is raised once.
alter table cases
  add column sla_clocks_at timestamptz,
  add column first_response_due_at timestamptz,
  add column first_response_warn_at timestamptz,
  add column first_response_warned_at timestamptz,
  add column first_response_breached_at timestamptz,
  add column resolution_due_at timestamptz,
  add column resolution_warn_at timestamptz,
  add column resolution_warned_at timestamptz,
  add column resolution_breached_at timestamptz;

-- Cases placed before the clocks existed get none: otherwise every old case would breach
-- at once on the first pass after this migration.
update cases set sla_clocks_at = now() where routed_at is not null;

-- the worker's two scans: placed cases whose clocks are not set yet, and running clocks
create index cases_sla_unset on cases (id) where sla_clocks_at is null and routed_at is not null;
create index cases_sla_first_response on cases (first_response_warn_at)
  where first_response_at is null and first_response_breached_at is null;
create index cases_sla_resolution on cases (resolution_warn_at)
  where resolution_breached_at is null and work_status not in ('resolved', 'closed');
