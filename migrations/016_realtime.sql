-- Agents' live view hears of every case event as it commits: each event's id is announced
-- on a Postgres channel; a listener publishes it once to Redis (src/realtime/hub.ts), where
-- every API process picks it up for its own connected agents.
create function announce_case_event() returns trigger language plpgsql as $$
begin
  perform pg_notify('switchboard_case_events', new.id::text);
  return null;
end $$;
create trigger case_events_announce after insert on case_events
  for each row execute function announce_case_event();
