-- What stays as written: the audit trail of case events, and the record of reads.
--
-- This file is the functions' source, applied by the migrator with `create or replace`
-- whenever its text changes (src/db/routines.ts); migrations/019 hold earlier versions, as
-- history, and create the triggers. Change them here, not in a migration.

-- case_events is append-only, except that a redaction (a transaction that has set
-- switchboard.redacting) may overwrite an event's reason and data. What happened, to which
-- case, who did it and when can never change, and no event is ever deleted.
create or replace function case_events_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and current_setting('switchboard.redacting', true) = 'on'
     and new.id = old.id and new.case_id = old.case_id and new.type = old.type
     and new.actor = old.actor and new.created_at = old.created_at then
    return new;
  end if;
  raise exception 'case_events is append-only (a redaction may overwrite only reason and data)';
end $$;

-- access_log is append-only: only the retention job (switchboard.retention set) deletes
-- rows past their schedule.
create or replace function access_log_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' and current_setting('switchboard.retention', true) = 'on' then
    return old;
  end if;
  raise exception 'access_log is append-only';
end $$;
