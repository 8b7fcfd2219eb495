-- The BullMQ job id of an outbox row. The row id alone is not unique across the lives of a
-- database: after a restore from backup, or a database dropped and created again, new rows
-- reuse ids whose finished jobs Redis may still hold, and BullMQ silently drops an add whose
-- job id it already knows, so the new work would never run. A random key per row cannot
-- collide with a job of any earlier life, or of another deployment sharing the Redis.
alter table outbox add column job_key uuid not null default gen_random_uuid();
