-- Texts and calls. Our own numbers are configuration (inbound_addresses); residents'
-- numbers are contact points. What an SMS conversation needs on top of the web channel:

-- STOP / START per resident number: nothing automatic, and no reply, goes to a number
-- whose latest word was STOP.
create table sms_opt_outs (
  phone       text primary key,
  opted_out   boolean not null,
  changed_at  timestamptz not null default now(),
  keyword     text not null
);

-- Texts we send, per council or partnership (else the built-in wording), e.g. the
-- acknowledgement with the case reference.
create table message_templates (
  id              bigint generated always as identity primary key,
  kind            text not null check (kind in ('sms_acknowledgement', 'sms_ask_postcode')),
  council_gss     text references councils (gss) on delete cascade,
  partnership_id  text references partnerships (id) on delete cascade,
  body            text not null check (body <> ''),
  check (council_gss is null or partnership_id is null)
);
create unique index message_templates_one on message_templates (kind, coalesce(council_gss, ''), coalesce(partnership_id, ''));
