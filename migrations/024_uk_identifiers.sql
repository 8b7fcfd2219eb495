-- The council end of FixMyStreet, and the UK's shared identifiers on every case (issue 21).

-- The Local Government Service List code of each service (standards.esd.org.uk), so that
-- partners comparing services compare like with like.
alter table services add column lgsl integer check (lgsl > 0);

-- The property (Unique Property Reference Number, up to 12 digits) and street (Unique
-- Street Reference Number, up to 8) a case is about, from whichever channel gave them.
alter table cases
  add column uprn text check (uprn ~ '^[0-9]{1,12}$'),
  add column usrn text check (usrn ~ '^[0-9]{1,8}$');
create index cases_uprn on cases (uprn) where uprn is not null;
create index cases_usrn on cases (usrn) where usrn is not null;

-- What the reporting client told us of its report, kept as sent: for FixMyStreet its id,
-- the report's public URL, title, closest address and British National Grid position.
alter table cases add column external_report jsonb;

-- Who wrote an Open311 service request update: the council (listed back to clients in GET
-- servicerequestupdates) or the public (a reporter's comment posted by a client such as
-- FixMyStreet: a message on the case, never the council's word). An update_id is the
-- client's own, so it is unique per client (source) and request, not across the server.
alter table case_updates add column author text not null default 'council' check (author in ('council', 'public'));
alter table case_updates add column message_id bigint references messages (id);
alter table case_updates drop constraint case_updates_update_id_key;
create unique index case_updates_once on case_updates (source, case_id, update_id);
