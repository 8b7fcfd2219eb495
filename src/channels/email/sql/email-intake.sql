-- switchboard_email_intake: one mail in one round trip, as a web contact is: its bytes kept
-- (or, on release, its quarantine entry settled), switchboard_intake
-- (src/intake/sql/intake.sql), the raw record linked to its message, the attachments
-- stored, a bounce applied to the mail of ours it reports, and the acknowledgement queued
-- when the loop guard allows it. `e` carries the mail's own facts (see
-- src/channels/email/receive-email.ts); `{reference}` in the acknowledgement's subject and
-- body becomes the case's reference.
--
-- This file is the functions' source, applied by the migrator with `create or replace`
-- whenever its text changes (src/db/routines.ts); migrations/012 hold earlier versions, as
-- history, and create the triggers. Change them here, not in a migration.


create or replace function switchboard_email_intake(p jsonb, raw bytea, e jsonb)
returns table (case_id bigint, reference text, outbox_id bigint, outbox_job_key uuid,
               replayed boolean, opened boolean, ack_message_id bigint, ack_outbox_id bigint, ack_job_key uuid)
language plpgsql as $$
declare
  v_email_id  bigint;
  v_raw_id    bigint;
  v_message   bigint;
  v_ack       jsonb := e->'ack';
  v_ack_msg   bigint;
  v_ack_out   bigint;
  v_ack_key   uuid;
  v_bounce    jsonb := e->'bounce';
  r           record;
begin
  if (e->>'release_id') is not null then
    update inbound_emails set state = 'released', decided_by = e->>'release_by', decided_at = now()
     where id = (e->>'release_id')::bigint and state = 'quarantined'
    returning id into v_email_id;
  else
    insert into inbound_emails (sha256, bytes, size_bytes, source, envelope_from, recipients, state, subject)
    values (e->>'sha256', raw, length(raw), e->>'source', e->>'envelope_from',
            array(select jsonb_array_elements_text(e->'recipients')), 'accepted', e->>'subject')
    on conflict (sha256) do nothing
    returning id into v_email_id;
  end if;
  if v_email_id is null then
    -- the same bytes again (or a release already made): what the first one became
    return query
      select c.id, c.reference, null::bigint, null::uuid, true, false, null::bigint, null::bigint, null::uuid
        from inbound_emails ie join raw_inbound ri on ri.id = ie.raw_inbound_id join cases c on c.id = ri.case_id
       where ie.sha256 = e->>'sha256';
    return;
  end if;

  select * into r from switchboard_intake(p) i;
  if r.replayed then
    -- the same Message-ID to the same mailbox in other bytes: nothing of it is kept
    if (e->>'release_id') is null then delete from inbound_emails where id = v_email_id; end if;
    return query select r.case_id, r.reference, null::bigint, null::uuid, true, false, null::bigint, null::bigint, null::uuid;
    return;
  end if;

  select ri.id, m.id into v_raw_id, v_message
    from raw_inbound ri join messages m on m.case_id = r.case_id and m.raw_inbound_id = ri.id
   where ri.provider = p->>'provider' and ri.provider_message_id = p->>'provider_message_id';
  update inbound_emails set raw_inbound_id = v_raw_id where id = v_email_id;

  insert into message_media (message_id, position, content_type, state, detail, size_bytes, content, fetched_at, filename, content_id, inline, sha256)
  select v_message, a.position, a.content_type, case when a.refused is null then 'stored' else 'refused' end, a.refused, a.size,
         case when a.refused is null then decode(a.content, 'base64') end, now(), a.filename, a.content_id, a.inline, a.sha256
    from jsonb_to_recordset(coalesce(e->'attachments', '[]'::jsonb))
      as a(position int, content_type text, refused text, size int, content text, filename text, content_id text, inline boolean, sha256 text);

  if v_bounce is not null then
    -- our mail failed: marked so, and the address it went to is failing
    with m as (
      update messages set status = 'failed', status_rank = 4, status_detail = v_bounce->>'detail', status_changed_at = clock_timestamp()
       where id = (v_bounce->>'message_id')::bigint and status_rank < 4
      returning id
    )
    update contact_points set failing_since = coalesce(failing_since, now()), failing_detail = v_bounce->>'detail'
     where kind = 'email' and value = (select lower(recipient) from messages where id = (v_bounce->>'message_id')::bigint);
  end if;

  -- At most ack_max automatic mails to one address in the window: a robot answering each
  -- of ours with a new mail cannot keep a loop going.
  if v_ack is not null and r.opened
     and (select count(*) from messages am
           where am.channel = 'email' and am.direction = 'outbound' and am.recipient = v_ack->>'to'
             and (am.thread_headers->>'automatic')::boolean
             and am.created_at > now() - make_interval(mins => (v_ack->>'window_minutes')::int)) < (v_ack->>'max_per_window')::int then
    update cases set reply_token = coalesce(reply_token, v_ack->>'reply_token') where id = r.case_id;
    insert into messages (case_id, direction, channel, body, subject, sender, recipient, provider, provider_message_id,
                          status, status_rank, status_changed_at, author, thread_headers)
    values (r.case_id, 'outbound', 'email', replace(v_ack->>'body', '{reference}', r.reference), replace(v_ack->>'subject', '{reference}', r.reference),
            v_ack->>'from', v_ack->>'to', 'smtp', v_ack->>'message_id', 'pending', 0, clock_timestamp(), 'system:acknowledgement', v_ack->'thread')
    returning id into v_ack_msg;
    perform record_case_event(r.case_id, 'message.queued', 'system:acknowledgement', 'Acknowledgement with the case reference queued to go by email',
                              jsonb_build_object('message_id', v_ack_msg, 'channel', 'email'));
    insert into outbox (topic, payload) values ('message:send', jsonb_build_object('message_id', v_ack_msg))
    returning id, job_key into v_ack_out, v_ack_key;
  end if;

  return query select r.case_id, r.reference, r.outbox_id, r.outbox_job_key, false, r.opened, v_ack_msg, v_ack_out, v_ack_key;
end $$;
