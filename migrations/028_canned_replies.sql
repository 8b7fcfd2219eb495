-- Canned replies: texts an agent picks in the reply box, per partnership and, when team_id is
-- set, for that team's cases only. Their {{variables}} are filled for the case at hand when
-- the agent asks for them (src/agents/canned-replies.ts); the stored body keeps the names.
create table canned_replies (
  id             bigint generated always as identity primary key,
  partnership_id text not null references partnerships (id),
  team_id        bigint references teams (id) on delete cascade,
  title          text not null check (length(title) between 1 and 80),
  body           text not null check (length(body) between 1 and 1600),
  created_by     text not null,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now()
);
-- one title per partnership and team (partnership-wide ones among themselves)
create unique index canned_replies_title on canned_replies (partnership_id, coalesce(team_id, 0), lower(title));
