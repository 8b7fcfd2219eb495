-- Contact-centre agents: accounts, teams, who works which case, and the case's own workflow.

-- A team of a partnership's contact centre: the councils it serves (all the partnership's
-- when council_gss is null) and whether its new cases are handed out automatically.
create table teams (
  id              bigint generated always as identity primary key,
  partnership_id  text not null references partnerships (id) on delete cascade,
  name            text not null,
  council_gss     text references councils (gss),
  auto_assign     boolean not null default false,
  unique (partnership_id, name)
);

create table agents (
  id               bigint generated always as identity primary key,
  partnership_id   text not null references partnerships (id),
  email            text not null unique,
  display_name     text,
  role             text not null check (role in ('agent', 'supervisor', 'admin')),
  -- scrypt (memory-hard), as `scrypt$N$r$p$salt$hash` in base64url
  password_hash    text not null,
  capacity         integer not null default 5 check (capacity between 1 and 100),
  presence         text not null default 'offline' check (presence in ('online', 'away', 'offline')),
  presence_at      timestamptz,
  last_assigned_at timestamptz,
  active           boolean not null default true,
  created_at       timestamptz not null default now()
);

create table agent_teams (
  agent_id  bigint not null references agents (id) on delete cascade,
  team_id   bigint not null references teams (id) on delete cascade,
  primary key (agent_id, team_id)
);
create index agent_teams_team on agent_teams (team_id);

-- The case as the contact centre works it, beside the pipeline's own status: new, open,
-- waiting on the resident or on the back office, resolved, closed.
alter table cases
  add column work_status text not null default 'new'
    check (work_status in ('new', 'open', 'waiting_on_resident', 'waiting_on_back_office', 'resolved', 'closed')),
  add column team_id bigint references teams (id),
  add column assigned_agent_id bigint references agents (id),
  add column assigned_at timestamptz,
  add column first_response_at timestamptz,
  add column merged_into bigint references cases (id);
-- a team's queue: unassigned open work, by priority then due time
create index cases_queue on cases (partnership_id, sla_due_at, id)
  where assigned_agent_id is null and merged_into is null and work_status in ('new', 'open', 'waiting_on_resident', 'waiting_on_back_office');
create index cases_assigned on cases (assigned_agent_id) where assigned_agent_id is not null;
