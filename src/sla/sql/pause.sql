-- The resolution clock pauses while a case waits on the resident (migration 027's trigger,
-- before an update of work_status). Entering waiting_on_resident with the clock running and
-- not yet breached marks when it paused; leaving it (back to open, or resolved) marks when
-- it resumed, and the sla worker then moves the due and warning times on by the working time
-- the pause took (src/sla/clocks.ts resumeClocks). While either mark is set, the clock neither
-- warns nor breaches.
create or replace function sla_pause_on_waiting() returns trigger language plpgsql as $$
begin
  if new.work_status = 'waiting_on_resident' and old.work_status is distinct from 'waiting_on_resident' then
    if new.resolution_due_at is not null and new.resolution_breached_at is null and new.resolution_paused_at is null then
      new.resolution_paused_at := clock_timestamp();
      new.resolution_resumed_at := null;
    end if;
  elsif old.work_status = 'waiting_on_resident' and new.work_status is distinct from 'waiting_on_resident'
        and new.resolution_paused_at is not null and new.resolution_resumed_at is null then
    new.resolution_resumed_at := clock_timestamp();
  end if;
  return new;
end $$;
