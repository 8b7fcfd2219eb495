-- Merging two cases: an agent's explicit act, recorded here with exactly what moved, so an
-- undo within the window moves those rows back and nothing else. case_events cannot move
-- (append-only): each case gets an event saying what happened instead.
create table case_merges (
  id                   bigint generated always as identity primary key,
  partnership_id       text not null references partnerships (id),
  from_case            bigint not null references cases (id),
  into_case            bigint not null references cases (id),
  agent_id             bigint references agents (id),
  actor                text not null check (actor <> ''),
  reason               text not null check (reason <> ''),
  message_ids          bigint[] not null default '{}',
  delivery_ids         bigint[] not null default '{}',
  -- the merged case's work status before it was closed by the merge, restored on undo
  from_work_status     text not null,
  created_at           timestamptz not null default clock_timestamp(),
  undo_until           timestamptz not null,
  undone_at            timestamptz,
  undone_by            text,
  check (from_case <> into_case)
);
create index case_merges_from on case_merges (from_case);
create index case_merges_into on case_merges (into_case);
