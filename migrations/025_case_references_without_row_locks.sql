-- requires: src/cases/sql/cases-kept.sql
-- Storing and routing a contact checked sixteen foreign keys, seven of them on the case's own
-- row (its messages, events, raw payload and delivery each point at it) and five on reference
-- rows every case shares (its council, service, partnership, destination). A key check runs a
-- trigger per row written and locks the referenced row FOR KEY SHARE (a write to that row,
-- and on a council's or service's row, many writers at once). Measured with
-- `npm run bench:intake`, these twelve checks were about a fifth of Postgres's time per contact.
--
-- The four tables that record what happened to a case now refer to it without a foreign
-- key. What the key guarded is kept another way: a case can never be deleted or truncated
-- (refuse_case_removal, src/cases/sql/cases-kept.sql), nor renumbered (its id is generated
-- always, which Postgres lets no update change), so a case id, taken from a case row as
-- every writer of these tables does, stays valid.
alter table case_events drop constraint case_events_case_id_fkey;
alter table messages drop constraint messages_case_id_fkey;
alter table raw_inbound drop constraint raw_inbound_case_id_fkey;
alter table deliveries drop constraint deliveries_case_id_fkey;

create trigger cases_never_removed before delete or truncate on cases
  for each statement execute function refuse_case_removal();

-- Where routing placed a case (and its delivery) is checked from the other side: a council,
-- service, partnership or destination a case or delivery names cannot be deleted
-- (refuse_delete_while_referenced), which is what the keys' NO ACTION did. Routing writes
-- these from the catalogue, read from the same tables. The resident's own choice
-- (requested_council_gss, requested_service_code) keeps its foreign key, as do residents.
alter table cases drop constraint cases_council_gss_fkey;
alter table cases drop constraint cases_service_code_fkey;
alter table cases drop constraint cases_partnership_id_fkey;
alter table cases drop constraint cases_destination_id_fkey;
alter table deliveries drop constraint deliveries_destination_id_fkey;

create trigger councils_in_use before delete on councils for each row execute function refuse_delete_while_referenced();
create trigger services_in_use before delete on services for each row execute function refuse_delete_while_referenced();
create trigger partnerships_in_use before delete on partnerships for each row execute function refuse_delete_while_referenced();
create trigger destinations_in_use before delete on destinations for each row execute function refuse_delete_while_referenced();
