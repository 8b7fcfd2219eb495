-- requires: src/sla/sql/pause.sql
-- The resolution clock pauses while a case waits on the resident (src/sla/sql/pause.sql):
-- when it paused, and when it resumed until the sla worker has moved its times on.
alter table cases
  add column resolution_paused_at timestamptz,
  add column resolution_resumed_at timestamptz;

-- the sla worker's look-up of clocks to move on: only the few cases just back from waiting
create index cases_sla_resumed on cases (resolution_resumed_at) where resolution_resumed_at is not null;

create trigger cases_sla_pause
  before update of work_status on cases
  for each row execute function sla_pause_on_waiting();
