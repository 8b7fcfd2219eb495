-- Agents' live view hears of every case event as it commits: each event's id is announced
-- on a Postgres channel; a listener publishes it once to Redis (src/realtime/hub.ts), where
-- every API process picks it up for its own connected agents. Only while some agent is
-- connected somewhere: API processes holding sockets keep live_view.until a little in the
-- future, so with nobody watching an event costs one look at a one-row table, no NOTIFY.
create table live_view (
  one    boolean primary key default true check (one),
  until  timestamptz not null default '-infinity'
);
insert into live_view default values;

create function announce_case_event() returns trigger language plpgsql as $$
begin
  -- only the events agents are shown (src/realtime/hub.ts LIVE_TYPES)
  if new.type in ('case.opened', 'case.routed', 'case.rerouted', 'case.triaged', 'case.assigned', 'case.claimed', 'case.released',
                  'case.transferred', 'case.work_status_changed', 'message.received', 'message.queued', 'case.reopened',
                  'case.updated', 'case.status_changed', 'sla.warning', 'sla.breached')
     and (select until from live_view) > now() then
    perform pg_notify('switchboard_case_events', new.id::text);
  end if;
  return null;
end $$;
create trigger case_events_announce after insert on case_events
  for each row execute function announce_case_event();
