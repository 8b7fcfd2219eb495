-- A new case has no SLA clocks and no partnership yet; three partial indexes still took an
-- entry for it (a null key), written with every case stored and never read: the SLA worker
-- looks for warn times at or before now, and the queue for one partnership, neither of
-- which a null matches. Each now leaves out rows whose key is null, so storing a contact
-- writes three index entries fewer; the queries that use them are unchanged (a comparison
-- with the key implies it is not null, which Postgres proves when it plans them).
drop index cases_sla_first_response;
create index cases_sla_first_response on cases (first_response_warn_at)
  where first_response_at is null and first_response_breached_at is null and first_response_warn_at is not null;
drop index cases_sla_resolution;
create index cases_sla_resolution on cases (resolution_warn_at)
  where resolution_breached_at is null and work_status not in ('resolved', 'closed') and resolution_warn_at is not null;
drop index cases_queue;
create index cases_queue on cases (partnership_id, sla_due_at, id)
  where assigned_agent_id is null and merged_into is null and work_status in ('new', 'open', 'waiting_on_resident', 'waiting_on_back_office')
    and partnership_id is not null;

-- Likewise a case not yet placed has no council, and a case never mailed has no reply
-- token: the council indexes (the case API's lists, by council) and the reply token's
-- uniqueness took a null entry for every new case, and the token's again at every change
-- of a case, since a change that moves an indexed column writes every index anew. Each now
-- holds only rows with a value; the lookups (a council = any(…), a token = …) imply one.
drop index cases_council_status;
create index cases_council_status on cases (council_gss, status) where council_gss is not null;
drop index cases_council_updated;
create index cases_council_updated on cases (council_gss, updated_at, id) where council_gss is not null;
alter table cases drop constraint cases_reply_token_key;
create unique index cases_reply_token_key on cases (reply_token) where reply_token is not null;
