-- A resident writing again (a text, a mail, a call) reopens the case an agent left waiting
-- on them or had resolved; automatic mail (an out-of-office, a bounce, list mail) never does.
-- A closed case stays closed: reopening it is a supervisor's decision.
create function reopen_on_resident_message() returns trigger language plpgsql as $$
begin
  if new.direction = 'inbound' and new.kind is null then
    with reopened as (
      update cases set work_status = 'open', updated_at = clock_timestamp()
       where id = new.case_id and work_status in ('waiting_on_resident', 'resolved')
      returning id
    )
    insert into case_events (case_id, type, actor, reason, data)
    select id, 'case.reopened', 'resident', 'The resident wrote again: the case is open again', jsonb_build_object('message_id', new.id) from reopened;
  end if;
  return null;
end $$;
create trigger messages_reopen after insert on messages
  for each row execute function reopen_on_resident_message();
