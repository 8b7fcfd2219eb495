-- Agent sessions that can be ended, and a live view that says each thing once (issue 20).

-- Outside production, agents' tokens are signed with a secret derived from this random value,
-- made once per database when this migration runs: every API process of a deployment shares
-- the database and so agrees on it, and nobody can mint a token from anything published (the
-- demo operator key was). gen_random_uuid() draws from the server's strong random source; two
-- of them give 244 random bits without needing the pgcrypto extension. AGENT_TOKEN_SECRET,
-- when set (required in production), is used instead. Replacing the value ends every session.
create table agent_token_key (
  one     boolean primary key default true check (one),
  secret  text not null default replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
  made_at timestamptz not null default now()
);
insert into agent_token_key default values;

-- Disabling an agent ends the sessions they had: each token carries the generation its agent
-- was in when it was issued, a disable moves the agent to the next one, and a token of an
-- earlier generation is refused even once the agent is enabled again (src/agents/sessions.ts).
-- A counter rather than a time: a token's issue time is in whole seconds.
alter table agents add column session_generation integer not null default 0;

-- A change to who an agent is (disabled, enabled, another role or partnership, removed) is
-- announced, so every API process forgets what it cached about them and closes their live
-- sockets at once, rather than within AGENT_REVOCATION_S (the cache's lifetime, the backstop
-- when a notification is missed). Presence updates do not touch these columns.
create function announce_agent_change() returns trigger language plpgsql as $$
begin
  perform pg_notify('switchboard_agent_changes', coalesce(new.id, old.id)::text);
  return null;
end $$;
create trigger agents_announce_change after update of active, role, partnership_id, session_generation or delete on agents
  for each row execute function announce_agent_change();

-- case.created reached agents twice for a case whose routing committed before the live view
-- read the case: the hub took both its case.opened (the case had a partnership by then) and
-- its first placing for its creation. A case is opened with no partnership (routing or triage
-- gives it one), so no agent can see it until it is placed: its opening is no longer announced
-- at all, and it is new to its agents once, when first placed (src/realtime/hub.ts). This also
-- spares every new contact a NOTIFY while agents are connected.
--
-- The type is tested on its own, before the live view's clock: as one condition with the
-- subquery, PL/pgSQL planned the statement afresh for every event whose type is left out
-- (a custom plan folded to false looked so much cheaper than the generic one that it never
-- settled on the generic plan), which cost every event about 5 µs.
create or replace function announce_case_event() returns trigger language plpgsql as $$
begin
  -- only the events agents are shown (src/realtime/hub.ts LIVE_TYPES)
  if new.type in ('case.routed', 'case.rerouted', 'case.triaged', 'case.assigned', 'case.claimed', 'case.released',
                  'case.transferred', 'case.work_status_changed', 'message.received', 'message.queued', 'case.reopened',
                  'case.updated', 'case.status_changed', 'sla.warning', 'sla.breached') then
    if (select until from live_view) > now() then
      perform pg_notify('switchboard_case_events', new.id::text);
    end if;
  end if;
  return null;
end $$;
