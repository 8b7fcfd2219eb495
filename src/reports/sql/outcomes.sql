-- record_case_outcome (trigger on case_events, after insert of a work status change or a
-- reopening; migration 030): keeps each case's outcome as its events tell it, one narrow row
-- per case, so the supervisors' report reads a row per case rather than aggregating every
-- event. resolved_at: the first resolution; reopened_at: the first time a resolved (or
-- closed) case was opened again, by an agent or by the resident writing again.
create or replace function record_case_outcome() returns trigger language plpgsql as $$
begin
  if new.type = 'case.work_status_changed' and new.data->>'to' = 'resolved' then
    insert into case_outcomes (case_id, resolved_at) values (new.case_id, new.created_at)
    on conflict (case_id) do update set resolved_at = coalesce(case_outcomes.resolved_at, excluded.resolved_at);
  elsif (new.type = 'case.work_status_changed' and new.data->>'from' in ('resolved', 'closed') and new.data->>'to' = 'open')
     or new.type = 'case.reopened' then
    -- a resident writing again reopens a case waiting on them too: only one resolved before counts
    update case_outcomes set reopened_at = new.created_at
     where case_id = new.case_id and resolved_at is not null and reopened_at is null;
  end if;
  return null;
end $$;
