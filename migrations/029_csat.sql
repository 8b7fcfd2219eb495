-- Customer satisfaction: one question per resolved case (src/feedback/csat.ts), kept with
-- the case's council, service, channel, team and agent as they were at resolution. No
-- personal data: the resident is reached through the case.
create table csat_surveys (
  case_id       bigint primary key references cases (id),
  channel       text not null check (channel in ('sms', 'email')),
  case_channel  text not null,
  council_gss   text,
  service_code  text,
  team_id       bigint,
  agent_id      bigint,
  asked_at      timestamptz not null default clock_timestamp(),
  score         smallint check (score between 1 and 5),
  answered_at   timestamptz
);
create index csat_surveys_asked on csat_surveys (asked_at);
