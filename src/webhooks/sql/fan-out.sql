-- Council webhooks hear of case events as they commit: a trigger on case_events writes one
-- webhook_events row per subscription that wants the event (and, before a case's first
-- routing is sent, its case.created), with an outbox row each, in the same transaction.
--
-- This file is the functions' source, applied by the migrator with `create or replace`
-- whenever its text changes (src/db/routines.ts); migrations/013 and 023 hold earlier versions, as
-- history, and create the triggers. Change them here, not in a migration.

-- The webhook event a case event is sent to council subscriptions as; null: never sent. The
-- pairs are src/events/audience.ts WEBHOOK_NAME_OF, the one table of who sees which event
-- (test/events/council-visibility.test.ts holds this function to it). What an agent writes
-- for colleagues (notes, transfer and merge reasons, assignment) has no webhook name.
create or replace function case_event_webhook_type(event_type text) returns text language sql immutable as $$
  select case event_type
    when 'case.opened' then 'case.created'
    when 'case.routed' then 'case.routed'
    when 'case.updated' then 'case.updated'
    when 'message.received' then 'message.created'
    when 'message.queued' then 'message.created'
    when 'note.added' then 'message.created'
  end
$$;

-- The fan-out itself; the type comes from the function above: an allow-list.
create or replace function webhook_fan_out() returns trigger language plpgsql as $$
declare
  v_type    text;
  v_council text;
begin
  -- Two tests, not one: as one condition, the subquery's plan depended on v_type, and
  -- PL/pgSQL planned it afresh for every event (three times a contact, about 7 µs each).
  v_type := case_event_webhook_type(new.type);
  if v_type is null then return null; end if;
  if not exists (select 1 from webhook_subscriptions where active) then return null; end if;
  select coalesce(c.council_gss, c.requested_council_gss) into v_council from cases c where c.id = new.case_id;
  if v_council is null or not exists (select 1 from webhook_subscriptions s where s.council_gss = v_council and s.active) then
    return null;
  end if;
  with ev as (
    insert into webhook_events (subscription_id, case_id, type, payload)
    select s.id, new.case_id, t.type,
           jsonb_build_object('case_event_id', new.id, 'reason', new.reason, 'actor', new.actor, 'data', new.data)
      from webhook_subscriptions s
      cross join lateral (
        select 'case.created' as type, 1 as ord
         where v_type = 'case.routed'
           and not exists (select 1 from webhook_events w where w.case_id = new.case_id and w.subscription_id = s.id and w.type = 'case.created')
        union all
        select v_type, 2
      ) t
     where s.council_gss = v_council and s.active and t.type = any (s.events)
     order by s.id, t.ord
    returning id
  )
  insert into outbox (topic, payload) select 'webhook:send', jsonb_build_object('webhook_event_id', id) from ev;
  return null;
end $$;
