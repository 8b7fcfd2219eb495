-- A delivery being attempted is held by whoever claimed it until lease_until. The route
-- worker now hands a routed case straight to delivery in the same process, with no queue
-- job in between; the outbox row stays as the guarantee, and the sweeper may enqueue a job
-- for it if the attempt takes longer than the outbox lease. A second claim (that job, or a
-- job run twice) finds the delivery held and sends nothing while the first attempt is in
-- flight. The lease ends when the attempt is recorded, or when it runs out (the claimer
-- died mid-attempt), and the delivery can then be tried again.
alter table deliveries add column lease_until timestamptz;
