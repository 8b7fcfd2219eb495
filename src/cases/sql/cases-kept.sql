-- A case is never deleted nor renumbered: what happened to it (its events, messages, raw
-- payloads and deliveries) refers to it by id for as long as those are kept, and erasure and
-- retention redact a case's personal data in place (src/data-protection/) rather than remove
-- the row. The trigger (migrations/025) refuses DELETE and TRUNCATE on cases whatever the
-- statement matches; a case's id is generated always, which no UPDATE may change.
--
-- This is what lets those four tables refer to cases without a foreign key: a key check is
-- a trigger per row written that locks the case's row (FOR KEY SHARE), seven times for each
-- contact stored and routed (see migrations/025 for what they cost). With no case ever
-- removed, a case id taken from a case row, as every writer does, stays valid.
--
-- This file is the function's source, applied by the migrator whenever it changes
-- (src/db/routines.ts).
create or replace function refuse_case_removal() returns trigger language plpgsql as $$
begin
  raise exception 'cases are never deleted (% on cases refused): their events, messages and deliveries refer to them; redact instead', tg_op
    using errcode = 'restrict_violation';
end $$;

-- Reference data a case or delivery was placed with (its council, service, partnership and
-- destination) cannot be deleted while one refers to it, as a foreign key's NO ACTION would
-- refuse. The triggers (migrations/025) run on DELETE of councils, services, partnerships
-- and destinations only, rarely and by an operator; the cases and deliveries that name them
-- are written by routing from the catalogue, which is loaded from these same tables, so the
-- insert-side check a foreign key would make (a row lock on a council's, service's,
-- destination's row for every case placed: many writers locking the same few rows) is not
-- made. A resident's own choice of council or service is still checked by its foreign key.
create or replace function refuse_delete_while_referenced() returns trigger language plpgsql as $$
declare
  v_used boolean;
begin
  -- one branch per table: PL/pgSQL resolves a field of old only in the branch that runs
  if tg_table_name = 'councils' then
    v_used := exists (select 1 from cases c where c.council_gss = old.gss);
  elsif tg_table_name = 'services' then
    v_used := exists (select 1 from cases c where c.service_code = old.code);
  elsif tg_table_name = 'partnerships' then
    v_used := exists (select 1 from cases c where c.partnership_id = old.id);
  else
    v_used := exists (select 1 from cases c where c.destination_id = old.id)
           or exists (select 1 from deliveries d where d.destination_id = old.id);
  end if;
  if v_used then
    raise exception 'cannot delete from % while cases or deliveries refer to it', tg_table_name
      using errcode = 'foreign_key_violation';
  end if;
  return old;
end $$;
