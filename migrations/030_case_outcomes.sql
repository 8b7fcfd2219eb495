-- requires: src/reports/sql/outcomes.sql
-- Each case's outcome as its events tell it (src/reports/sql/outcomes.sql): when it was first
-- resolved and first reopened after that. Read by the supervisors' report.
create table case_outcomes (
  case_id      bigint primary key references cases (id) on delete cascade,
  resolved_at  timestamptz,
  reopened_at  timestamptz
);

-- from the events already recorded
insert into case_outcomes (case_id, resolved_at, reopened_at)
select r.case_id, r.resolved_at,
       (select min(e.created_at) from case_events e
         where e.case_id = r.case_id and e.created_at >= r.resolved_at
           and (e.type = 'case.reopened' or (e.type = 'case.work_status_changed' and e.data->>'from' in ('resolved', 'closed') and e.data->>'to' = 'open')))
  from (select case_id, min(created_at) as resolved_at from case_events
         where type = 'case.work_status_changed' and data->>'to' = 'resolved' group by case_id) r;

-- only these two types call it: every other event costs the trigger's WHEN test alone
create trigger case_events_outcomes
  after insert on case_events
  for each row when (new.type in ('case.work_status_changed', 'case.reopened'))
  execute function record_case_outcome();
