-- switchboard_intake: one contact, stored in one round trip (src/intake/intake.ts calls it
-- with the IntakeParams of one contact). It keeps the raw payload once per provider message
-- (a replay changes nothing), finds or makes the resident by the identity rules (a claimed
-- point links at most, a proven one ties to whoever proved it), threads onto the case the
-- contact belongs to or opens one, and writes the message, its case event and, for a new
-- case, the outbox row that routes it.
--
-- This file is the function's source. The migrator applies it with `create or replace`
-- after the migrations whenever its text changes (src/db/routines.ts); migrations 003, 006
-- and 012 hold its earlier versions, as history. Change it here, not in a migration.

create or replace function switchboard_intake(p jsonb)
returns table (case_id bigint, reference text, outbox_id bigint, outbox_job_key uuid,
               replayed boolean, same_payload boolean, opened boolean)
language plpgsql as $$
declare
  v_raw_id     bigint;
  v_resident   bigint;
  v_holder     bigint;
  v_new_res    boolean := false;
  v_case       bigint;
  v_ref        text;
  v_opened     boolean := false;
  v_outbox     bigint;
  v_job_key    uuid;
  v_prev_hash  text;
  v_email      text := nullif(p->>'email', '');
  v_phone      text := nullif(p->>'phone', '');
  v_email_ok   boolean := coalesce((p->>'email_verified')::boolean, false) and v_email is not null;
  v_phone_ok   boolean := coalesce((p->>'phone_verified')::boolean, false) and v_phone is not null;
  v_how        text := p->>'channel';
  v_kind       text := nullif(p->>'message_kind', '');
  v_thread     bigint := (p->>'thread_case_id')::bigint;
  -- the channels check these; a malformed one is dropped here rather than lose the contact
  v_uprn       text := case when p->>'uprn' ~ '^[0-9]{1,12}$' then p->>'uprn' end;
  v_usrn       text := case when p->>'usrn' ~ '^[0-9]{1,8}$' then p->>'usrn' end;
begin
  insert into raw_inbound (provider, provider_message_id, channel, payload, payload_hash)
  values (p->>'provider', p->>'provider_message_id', p->>'channel', p->'payload', p->>'payload_hash')
  on conflict (provider, provider_message_id) do nothing
  returning id into v_raw_id;

  if v_raw_id is null then
    -- a replay: answer as the first time, change nothing
    select r.case_id, r.payload_hash into v_case, v_prev_hash
      from raw_inbound r
     where r.provider = p->>'provider' and r.provider_message_id = p->>'provider_message_id';
    return query
      select c.id, c.reference, null::bigint, null::uuid, true,
             v_prev_hash is not distinct from p->>'payload_hash', false
        from cases c where c.id = v_case;
    return;
  end if;

  if v_thread is not null then
    -- The channel proved the thread (our own Message-ID or reply address quoted back): the
    -- message joins that case and its resident. A proven address becomes theirs; anything
    -- else about the sender is left as it is.
    select c.id, c.reference, c.resident_id into v_case, v_ref, v_resident from cases c where c.id = v_thread;
    if v_email_ok and v_resident is not null then
      insert into contact_points as cp (kind, value, resident_id, verified, verified_at, verified_by)
      values ('email', v_email, v_resident, true, now(), v_how)
      on conflict (kind, value) do update
        set resident_id = excluded.resident_id, verified = true, verified_at = now(), verified_by = excluded.verified_by,
            last_seen_at = now(), failing_since = null, failing_detail = null
        where not cp.verified or cp.resident_id = excluded.resident_id;
    end if;
  end if;

  if v_case is null and (v_email_ok or v_phone_ok) then
    -- Proven points: the resident who proved one of them before, else a new resident.
    select cp.resident_id into v_resident
      from contact_points cp
     where cp.verified
       and ((v_phone_ok and cp.kind = 'phone' and cp.value = v_phone) or (v_email_ok and cp.kind = 'email' and cp.value = v_email))
     order by (cp.kind = 'phone') desc
     limit 1;
    if v_resident is null then
      insert into residents (display_name) values (nullif(p->>'name', '')) returning id into v_resident;
      v_new_res := true;
    end if;
    -- Each proven point now belongs to this resident, taken from whoever merely claimed it.
    -- A point someone else proved stays theirs (it is not ours to move; agents can merge).
    -- One statement for both (phone first, as before): the points differ in kind, so neither
    -- row can meet the other's conflict.
    insert into contact_points as cp (kind, value, resident_id, verified, verified_at, verified_by)
    select pt.kind, pt.value, v_resident, true, now(), v_how
      from (values (1, 'phone', v_phone, v_phone_ok), (2, 'email', v_email, v_email_ok)) as pt (n, kind, value, proven)
     where pt.proven
     order by pt.n
    on conflict (kind, value) do update
      set resident_id = excluded.resident_id, verified = true, verified_at = now(), verified_by = excluded.verified_by, last_seen_at = now()
      where not cp.verified or cp.resident_id = excluded.resident_id;
    -- A claimed point alongside a proven one is kept only when nobody holds it yet.
    if v_new_res and v_email is not null and not v_email_ok then
      insert into contact_points (kind, value, resident_id) values ('email', v_email, v_resident) on conflict do nothing;
    end if;
    if v_new_res and v_phone is not null and not v_phone_ok then
      insert into contact_points (kind, value, resident_id) values ('phone', v_phone, v_resident) on conflict do nothing;
    end if;
  elsif v_case is null then
    -- Claims only: link to whoever holds the email (else the phone), touching nothing of
    -- theirs; or a new resident holding the claimed points, unverified.
    select cp.resident_id into v_resident
      from contact_points cp
     where (cp.kind = 'email' and cp.value = v_email) or (cp.kind = 'phone' and cp.value = v_phone)
     order by (cp.kind = 'email') desc
     limit 1;
    if v_resident is null then
      insert into residents (display_name) values (nullif(p->>'name', '')) returning id into v_resident;
      v_new_res := true;
      -- If another transaction registered the same email first, it holds it and ours links to
      -- that resident instead; the resident we just made is dropped.
      if v_email is not null then
        insert into contact_points as cp (kind, value, resident_id) values ('email', v_email, v_resident)
        on conflict (kind, value) do update set last_seen_at = now()
        returning cp.resident_id into v_holder;
        if v_holder <> v_resident then
          delete from residents where id = v_resident;
          v_resident := v_holder;
          v_new_res := false;
        end if;
      end if;
      if v_phone is not null and v_new_res then
        insert into contact_points (kind, value, resident_id) values ('phone', v_phone, v_resident) on conflict do nothing;
      end if;
    end if;
  end if;

  -- Thread onto an open case the contact points at, when the contact could also see its
  -- status (the case was reported with this email or phone) or proved it is the case's
  -- resident. A reference alone adds nothing to someone else's case.
  if v_case is null and coalesce(p->>'thread_reference', '') <> '' then
    select c.id, c.reference into v_case, v_ref
      from cases c
     where c.reference = p->>'thread_reference' and c.status <> 'resolved'
       and ((v_email is not null and c.reported_email = v_email)
         or (v_phone is not null and c.reported_phone = v_phone)
         or ((v_email_ok or v_phone_ok) and c.resident_id = v_resident));
  end if;

  -- A text from a proven number joins its open case reached through the same number of
  -- ours, if that case heard from it within the window: a conversation, not a new report.
  if v_case is null and v_phone_ok and (p->>'thread_window_secs') is not null and p->>'recipient' is not null then
    select c.id, c.reference into v_case, v_ref
      from cases c
     where c.reported_phone = v_phone and c.contacted_address = p->>'recipient' and c.status <> 'resolved'
       and c.updated_at >= clock_timestamp() - make_interval(secs => (p->>'thread_window_secs')::float8)
     order by c.updated_at desc
     limit 1;
  end if;

  if v_case is null then
    insert into cases (reference, resident_id, channel, requested_council_gss, requested_service_code,
                       service_code, postcode, lat, lng, description, reported_name, reported_email, reported_phone,
                       contacted_address, flags, uprn, usrn, external_report)
    values (p->>'reference', v_resident, p->>'channel', p->>'council_gss', p->>'service_code',
            p->>'service_code', p->>'postcode', (p->>'lat')::double precision, (p->>'lng')::double precision,
            coalesce(p->>'text', ''), nullif(p->>'name', ''), v_email, v_phone, p->>'recipient',
            coalesce(array(select jsonb_array_elements_text(p->'flags')), '{}'),
            v_uprn, v_usrn, nullif(p->'external_report', 'null'::jsonb))
    returning id, cases.reference into v_case, v_ref;
    v_opened := true;
  elsif v_kind is null then
    -- a later message may name the property or street the first did not
    update cases set updated_at = clock_timestamp(), uprn = coalesce(cases.uprn, v_uprn), usrn = coalesce(cases.usrn, v_usrn)
     where id = v_case;
  end if;

  update raw_inbound set case_id = v_case where id = v_raw_id;

  insert into messages (case_id, direction, channel, body, sender, recipient, provider, provider_message_id, raw_inbound_id, media,
                        subject, html, kind, attachments_omitted)
  values (v_case, 'inbound', p->>'channel', coalesce(p->>'text', ''), p->>'sender', p->>'recipient',
          p->>'provider', p->>'provider_message_id', v_raw_id, coalesce(p->'media', '[]'::jsonb),
          p->>'subject', p->>'html', v_kind, coalesce((p->>'attachments_omitted')::integer, 0));

  perform record_case_event(v_case,
          case when v_opened then 'case.opened' else 'message.received' end,
          'intake:' || (p->>'channel'),
          case when v_opened then 'Contact received through the ' || (p->>'channel') || ' channel; case opened'
               when v_kind = 'auto_reply' then 'Automatic reply (such as out of office) received and attached; the case is unchanged'
               when v_kind = 'bounce' then 'Delivery failure report received and attached; the case is unchanged'
               when v_kind = 'list' then 'List or bulk mail received and attached; the case is unchanged'
               else 'Further message received through the ' || (p->>'channel') || ' channel on the open case' end,
          jsonb_build_object('provider', p->>'provider', 'raw_inbound_id', v_raw_id,
                             'verified', to_jsonb(array_remove(array[case when v_phone_ok then 'phone' end, case when v_email_ok then 'email' end], null)))
          || case when v_kind is not null then jsonb_build_object('kind', v_kind) else '{}'::jsonb end
          || case when v_thread is not null then jsonb_build_object('thread', p->>'thread_how') else '{}'::jsonb end);

  if v_opened then
    insert into outbox (topic, payload) values ('case:route', jsonb_build_object('case_id', v_case))
    returning id, job_key into v_outbox, v_job_key;
  end if;

  return query select v_case, v_ref, v_outbox, v_job_key, false, true, v_opened;
end $$;
