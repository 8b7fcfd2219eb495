-- Email in and out. Every message that reaches us, by SMTP or a provider's webhook, is kept
-- byte for byte in inbound_emails before it is answered; what intake makes of it (a case,
-- a message on a case, or a quarantine entry) points back to it.

create table inbound_emails (
  id              bigint generated always as identity primary key,
  -- the same bytes delivered again add nothing
  sha256          text not null unique,
  bytes           bytea,
  size_bytes      integer not null,
  source          text not null,                   -- 'smtp' or 'http:<source name>'
  envelope_from   text,                            -- '' for MAIL FROM:<> (bounces)
  recipients      text[] not null default '{}',    -- ours only, lower-case
  received_at     timestamptz not null default now(),
  state           text not null check (state in ('accepted', 'quarantined', 'released', 'discarded')),
  reason          text,                            -- why it is in quarantine
  subject         text,                            -- best effort, for the quarantine list
  raw_inbound_id  bigint references raw_inbound (id),
  decided_by      text,
  decided_at      timestamptz
);
create index inbound_emails_quarantine on inbound_emails (received_at) where state = 'quarantined';

alter table messages
  add column subject text,
  -- the HTML part as sent; only ever served sanitised
  add column html text,
  -- what the mail was: null for a person's mail, else 'auto_reply', 'bounce' or 'list'
  add column kind text check (kind in ('auto_reply', 'bounce', 'list')),
  -- outbound mail: the In-Reply-To and References it carries
  add column thread_headers jsonb,
  add column attachments_omitted integer not null default 0;

-- the loop guard counts our automatic mail to one address in a window
create index messages_email_to on messages (recipient, created_at) where channel = 'email' and direction = 'outbound';

-- Email attachments share MMS media's table: a generated storage key, a base name only.
alter table message_media
  alter column url drop not null,
  add column filename text,
  add column storage_key uuid not null default gen_random_uuid(),
  add column content_id text,
  add column inline boolean not null default false,
  add column sha256 text;
create unique index message_media_storage_key on message_media (storage_key);

-- The reply address of a case (reply+<token>@our domain): a reply to it threads onto the case.
alter table cases
  add column reply_token text unique,
  -- what a person should look at: e.g. 'reference_of_another_sender' when a subject quoted
  -- a case whose resident did not send this mail
  add column flags text[] not null default '{}';

-- An address our mail to bounced from: failing until it works again.
alter table contact_points
  add column failing_since timestamptz,
  add column failing_detail text;

alter table message_templates drop constraint message_templates_kind_check;
alter table message_templates add constraint message_templates_kind_check
  check (kind in ('sms_acknowledgement', 'sms_ask_postcode', 'email_acknowledgement'));

-- Intake learns three things for email: a thread the channel proved (our Message-ID or reply
-- token quoted back), a message's kind (automatic mail attaches and changes nothing), and
-- flags on a case it opens. Everything else is as in 006.
drop function switchboard_intake(jsonb);
create function switchboard_intake(p jsonb)
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
    if v_phone_ok then
      insert into contact_points as cp (kind, value, resident_id, verified, verified_at, verified_by)
      values ('phone', v_phone, v_resident, true, now(), v_how)
      on conflict (kind, value) do update
        set resident_id = excluded.resident_id, verified = true, verified_at = now(), verified_by = excluded.verified_by, last_seen_at = now()
        where not cp.verified or cp.resident_id = excluded.resident_id;
    end if;
    if v_email_ok then
      insert into contact_points as cp (kind, value, resident_id, verified, verified_at, verified_by)
      values ('email', v_email, v_resident, true, now(), v_how)
      on conflict (kind, value) do update
        set resident_id = excluded.resident_id, verified = true, verified_at = now(), verified_by = excluded.verified_by, last_seen_at = now()
        where not cp.verified or cp.resident_id = excluded.resident_id;
    end if;
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
                       contacted_address, flags)
    values (p->>'reference', v_resident, p->>'channel', p->>'council_gss', p->>'service_code',
            p->>'service_code', p->>'postcode', (p->>'lat')::double precision, (p->>'lng')::double precision,
            coalesce(p->>'text', ''), nullif(p->>'name', ''), v_email, v_phone, p->>'recipient',
            coalesce(array(select jsonb_array_elements_text(p->'flags')), '{}'))
    returning id, cases.reference into v_case, v_ref;
    v_opened := true;
  elsif v_kind is null then
    update cases set updated_at = clock_timestamp() where id = v_case;
  end if;

  update raw_inbound set case_id = v_case where id = v_raw_id;

  insert into messages (case_id, direction, channel, body, sender, recipient, provider, provider_message_id, raw_inbound_id, media,
                        subject, html, kind, attachments_omitted)
  values (v_case, 'inbound', p->>'channel', coalesce(p->>'text', ''), p->>'sender', p->>'recipient',
          p->>'provider', p->>'provider_message_id', v_raw_id, coalesce(p->'media', '[]'::jsonb),
          p->>'subject', p->>'html', v_kind, coalesce((p->>'attachments_omitted')::integer, 0));

  insert into case_events (case_id, type, actor, reason, data)
  values (v_case,
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

-- One mail in one round trip, as a web contact is: its bytes kept (or, on release, its
-- quarantine entry settled), the intake above, the raw record linked to its message, the
-- attachments stored, a bounce applied to the mail of ours it reports, and the
-- acknowledgement queued when the loop guard allows it. `e` carries the mail's own facts
-- (see src/channels/email/receive-email.ts); `{reference}` in the acknowledgement's subject
-- and body becomes the case's reference.
create function switchboard_email_intake(p jsonb, raw bytea, e jsonb)
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
    insert into case_events (case_id, type, actor, reason, data)
    values (r.case_id, 'message.queued', 'system:acknowledgement', 'Acknowledgement with the case reference queued to go by email',
            jsonb_build_object('message_id', v_ack_msg, 'channel', 'email'));
    insert into outbox (topic, payload) values ('message:send', jsonb_build_object('message_id', v_ack_msg))
    returning id, job_key into v_ack_out, v_ack_key;
  end if;

  return query select r.case_id, r.reference, r.outbox_id, r.outbox_job_key, false, r.opened, v_ack_msg, v_ack_out, v_ack_key;
end $$;
