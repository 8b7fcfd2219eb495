-- A resident's latest email or phone (for delivery payloads and, later, replies) is looked
-- up by resident and kind. With only (resident_id) indexed, the planner could, on a young
-- table whose statistics were stale, combine it with a scan of every email in the primary
-- key: milliseconds per delivery, growing with the number of residents. This index answers
-- the lookup on its own, already in last-seen order.
drop index if exists contact_points_resident;
create index contact_points_resident_kind on contact_points (resident_id, kind, last_seen_at desc);
