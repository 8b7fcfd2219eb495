-- A delivery the demo mail transport (no SMTP_URL, outside production) built and kept
-- instead of sending. It is settled, so it is not retried, but it is never counted as
-- delivered: the case stays routed and the resident is not told the council has it.
alter table deliveries drop constraint deliveries_state_check;
alter table deliveries add constraint deliveries_state_check
  check (state in ('pending', 'retrying', 'delivered', 'dead', 'kept'));
