-- Issue 20, mail: a message's HTML is sanitised once, on a thread of its own and within
-- bounds, the first time someone asks to see it; the result replaces the HTML as received
-- (the raw message in inbound_emails keeps that). html_state says what became of it:
-- null: as received, not yet sanitised (every mail stored before this migration, too);
-- 'sanitised': html is the sanitised HTML; otherwise html is the text part under a note
-- saying why the formatting is not shown (too big, too deeply nested, too slow, failed).
alter table messages
  add column html_state text check (html_state in ('sanitised', 'too_big', 'too_deep', 'timed_out', 'failed'));
