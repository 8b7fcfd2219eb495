-- Work to hand to the queues, written in the same transaction as the change that causes
-- it. A row is done only when its job has had its effect; a sweeper re-enqueues the rest,
-- so losing Redis (or a process) loses no work.
create table outbox (
  id          bigint generated always as identity primary key,
  topic       text not null check (topic in ('case:route', 'case:deliver')),
  payload     jsonb not null,
  created_at  timestamptz not null default clock_timestamp(),
  relayed_at  timestamptz,
  done_at     timestamptz
);
create index outbox_pending on outbox (id) where done_at is null;

-- One hand-over of a case to a council's back-office destination, with its attempts.
create table deliveries (
  id              bigint generated always as identity primary key,
  -- sent as X-Switchboard-Delivery; stable across retries so receivers can dedupe
  public_id       uuid not null unique default gen_random_uuid(),
  case_id         bigint not null references cases (id),
  destination_id  bigint not null references destinations (id),
  kind            text not null check (kind in ('webhook', 'email')),
  state           text not null default 'pending' check (state in ('pending', 'retrying', 'delivered', 'dead')),
  attempts        integer not null default 0,
  last_status     integer,
  last_error      text,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  delivered_at    timestamptz,
  unique (case_id, destination_id)
);
create index deliveries_state on deliveries (state, updated_at) where state in ('dead', 'retrying');

-- Web Idempotency-Key answers and provider replays are both served by raw_inbound's
-- unique (provider, provider_message_id).

-- The intake transaction as one function, so accepting a contact costs one round trip to
-- Postgres instead of ten; it runs inside the caller's transaction (atomic by itself when
-- called alone). Input keys: provider, provider_message_id, channel, payload, payload_hash,
-- reference (a fresh one, used only if a case is opened), name, email, phone, sender,
-- recipient, text, postcode, lat, lng, service_code, council_gss, thread_reference.
create function switchboard_intake(p jsonb)
returns table (case_id bigint, reference text, outbox_id bigint, replayed boolean, same_payload boolean, opened boolean)
language plpgsql as $$
declare
  v_raw_id     bigint;
  v_resident   bigint;
  v_new_res    boolean := false;
  v_owner      bigint;
  v_case       bigint;
  v_ref        text;
  v_opened     boolean := false;
  v_outbox     bigint;
  v_prev_hash  text;
  v_email      text := p->>'email';
  v_phone      text := p->>'phone';
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
      select c.id, c.reference, null::bigint, true,
             v_prev_hash is not distinct from p->>'payload_hash', false
        from cases c where c.id = v_case;
    return;
  end if;

  select cp.resident_id into v_resident
    from contact_points cp
   where (cp.kind = 'email' and cp.value = v_email) or (cp.kind = 'phone' and cp.value = v_phone)
   order by (cp.kind = 'email') desc
   limit 1;

  if v_resident is null then
    insert into residents (display_name) values (nullif(p->>'name', '')) returning id into v_resident;
    v_new_res := true;
  elsif coalesce(p->>'name', '') <> '' then
    update residents set display_name = p->>'name'
     where id = v_resident and display_name is distinct from p->>'name';
  end if;

  -- Attach each contact point. If another transaction registered the same point first,
  -- it wins and the resident we just created is dropped.
  if v_email is not null then
    insert into contact_points as cp (kind, value, resident_id) values ('email', v_email, v_resident)
    on conflict (kind, value) do update set last_seen_at = now()
    returning cp.resident_id into v_owner;
    if v_owner <> v_resident and v_new_res then
      delete from residents where id = v_resident;
      v_resident := v_owner;
      v_new_res := false;
    end if;
  end if;
  if v_phone is not null then
    insert into contact_points as cp (kind, value, resident_id) values ('phone', v_phone, v_resident)
    on conflict (kind, value) do update set last_seen_at = now()
    returning cp.resident_id into v_owner;
    if v_owner <> v_resident and v_new_res then
      delete from residents where id = v_resident;
      v_resident := v_owner;
    end if;
  end if;

  -- Thread onto the resident's own open case when the channel points at one.
  if coalesce(p->>'thread_reference', '') <> '' then
    select c.id, c.reference into v_case, v_ref
      from cases c
     where c.reference = p->>'thread_reference' and c.resident_id = v_resident and c.status <> 'resolved';
  end if;

  if v_case is null then
    insert into cases (reference, resident_id, channel, requested_council_gss, requested_service_code,
                       service_code, postcode, lat, lng, description)
    values (p->>'reference', v_resident, p->>'channel', p->>'council_gss', p->>'service_code',
            p->>'service_code', p->>'postcode', (p->>'lat')::double precision, (p->>'lng')::double precision,
            coalesce(p->>'text', ''))
    returning id, cases.reference into v_case, v_ref;
    v_opened := true;
  else
    update cases set updated_at = clock_timestamp() where id = v_case;
  end if;

  update raw_inbound set case_id = v_case where id = v_raw_id;

  insert into messages (case_id, direction, channel, body, sender, recipient, provider, provider_message_id, raw_inbound_id)
  values (v_case, 'inbound', p->>'channel', coalesce(p->>'text', ''), p->>'sender', p->>'recipient',
          p->>'provider', p->>'provider_message_id', v_raw_id);

  insert into case_events (case_id, type, actor, reason, data)
  values (v_case,
          case when v_opened then 'case.opened' else 'message.received' end,
          'intake:' || (p->>'channel'),
          case when v_opened then 'Contact received through the ' || (p->>'channel') || ' channel; case opened'
               else 'Further message received through the ' || (p->>'channel') || ' channel on the open case' end,
          jsonb_build_object('provider', p->>'provider', 'raw_inbound_id', v_raw_id));

  if v_opened then
    insert into outbox (topic, payload) values ('case:route', jsonb_build_object('case_id', v_case))
    returning id into v_outbox;
  end if;

  return query select v_case, v_ref, v_outbox, false, true, v_opened;
end $$;
