-- record_case_event: the one way the SQL sources (intake, email intake, the reopening
-- trigger) write a case event, as src/events/record.ts is for TypeScript. The type must be
-- one of the catalogue's (src/events/catalogue.ts: test/events/audience.test.ts holds every
-- type the sources name to it), and what listens to events (webhook fan-out, the live view,
-- the append-only guard) are triggers on case_events, so they hear these as any other.
-- Returns the event's id.
--
-- This file is the function's source, applied by the migrator whenever it changes
-- (src/db/routines.ts).
-- PL/pgSQL rather than a SQL function: PL/pgSQL keeps the insert's plan for the session, where
-- a SQL function that writes is planned afresh at every call (about 40 µs an event).
create or replace function record_case_event(p_case bigint, p_type text, p_actor text, p_reason text, p_data jsonb)
returns bigint language plpgsql as $$
declare
  v_id bigint;
begin
  insert into case_events (case_id, type, actor, reason, data)
  values (p_case, p_type, p_actor, p_reason, coalesce(p_data, '{}'::jsonb))
  returning id into v_id;
  return v_id;
end $$;
