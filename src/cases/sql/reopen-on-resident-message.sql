-- reopen_on_resident_message (trigger on messages, after insert): a resident writing again
-- (a text, a mail, a call, a comment on FixMyStreet) reopens the case an agent left waiting
-- on them or had resolved; automatic mail (an out-of-office, a bounce, list mail) never does.
-- A closed case stays closed: reopening it is a supervisor's decision.
--
-- A message that says the problem is over (a FixMyStreet user's comment marked FIXED or
-- CLOSED) ends a wait on the resident but does not reopen a resolved case: its writer sets
-- switchboard.message_keeps_resolved to 'on' for their transaction
-- (src/open311/public-updates.ts).
--
-- This file is the function's source, applied by the migrator whenever it changes
-- (src/db/routines.ts); migrations/015 holds its first version and creates the trigger.
create or replace function reopen_on_resident_message() returns trigger language plpgsql as $$
declare
  v_from text[] := case when current_setting('switchboard.message_keeps_resolved', true) = 'on'
                        then array['waiting_on_resident'] else array['waiting_on_resident', 'resolved'] end;
begin
  if new.direction = 'inbound' and new.kind is null then
    update cases set work_status = 'open', updated_at = clock_timestamp()
     where id = new.case_id and work_status = any(v_from);
    if found then
      perform record_case_event(new.case_id, 'case.reopened', 'resident', 'The resident wrote again: the case is open again',
                                jsonb_build_object('message_id', new.id));
    end if;
  end if;
  return null;
end $$;
