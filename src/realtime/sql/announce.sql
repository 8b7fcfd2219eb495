-- Announcements to every API process: the live view's case events, and changes to an
-- agent's account (src/realtime/hub.ts and src/agents/sessions.ts listen).
--
-- This file is the functions' source, applied by the migrator with `create or replace`
-- whenever its text changes (src/db/routines.ts); migrations/016 and 021 hold earlier versions, as
-- history, and create the triggers. Change them here, not in a migration.

-- Agents' live view hears of every case event it shows as it commits: the event's id on a
-- Postgres channel, only while some agent is connected (live_view.until). A case's opening
-- is not announced: it is new to its agents once, when first placed (src/realtime/hub.ts).
--
-- case_event_is_live is the list: the events the catalogue gives a live name
-- (src/events/catalogue.ts, LIVE_TYPES of src/realtime/hub.ts; test/events/audience.test.ts
-- holds it to that). The type is tested on its own, before the live view's clock: as one
-- condition with the subquery, PL/pgSQL planned the statement afresh for every event whose
-- type is left out, which cost every event about 5 µs. Tested inside the function, not in
-- the trigger's WHEN: a WHEN condition is prepared again by every statement that inserts,
-- which for intake's one-row inserts cost more than the call it saves.
create or replace function case_event_is_live(event_type text) returns boolean language sql immutable as $$
  select event_type in ('case.routed', 'case.triaged', 'case.assigned', 'case.released', 'case.transferred',
                        'case.work_status_changed', 'message.received', 'message.queued', 'case.reopened', 'case.updated',
                        'sla.warning', 'sla.breached')
$$;

create or replace function announce_case_event() returns trigger language plpgsql as $$
begin
  if case_event_is_live(new.type) then
    if (select until from live_view) > now() then
      perform pg_notify('switchboard_case_events', new.id::text);
    end if;
  end if;
  return null;
end $$;

-- A change to who an agent is (disabled, enabled, another role or partnership, removed):
-- every API process forgets what it cached about them and closes their live sockets at once.
create or replace function announce_agent_change() returns trigger language plpgsql as $$
begin
  perform pg_notify('switchboard_agent_changes', coalesce(new.id, old.id)::text);
  return null;
end $$;
