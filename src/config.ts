import { isIP } from 'node:net'
import { envSchema } from 'env-schema'
import Type, { type Static } from 'typebox'
import { StringEnum } from './lib/schema.js'

/**
 * Every setting Switchboard reads from the environment, in one schema. The type is
 * derived from it, so nothing else in the code reads `process.env`.
 */
export const ConfigSchema = Type.Object({
  NODE_ENV: StringEnum(['development', 'production', 'test'] as const, { default: 'development' }),
  DATABASE_URL: Type.String({
    pattern: '^postgres(ql)?://',
    default: 'postgres://postgres@127.0.0.1:5432/switchboard',
    description: 'PostgreSQL connection URL (postgres://user@host:port/database)'
  }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
  WORKER_DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 4 }),
  REDIS_URL: Type.String({
    pattern: '^rediss?://',
    default: 'redis://127.0.0.1:6379',
    description: 'Redis connection URL (redis://host:port)'
  }),
  QUEUE_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_{}-]+$', default: 'switchboard' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  PUBLIC_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s/]+(/[^\\s]*)?$' })),
  LOG_LEVEL: StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, { default: 'info' }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, maximum: 10_485_760, default: 65_536 }),
  OPERATOR_API_KEY: Type.Optional(Type.String({ minLength: 16 })),
  // unset: on outside production, off in production (resolved in loadConfig)
  LOAD_DEMO_DATA: Type.Optional(Type.Boolean()),
  TRUST_PROXY: Type.String({ default: 'false', pattern: '^(true|false|[0-9]{1,2}|[0-9A-Fa-f:./, ]+)$' }),
  RATE_LIMIT_INTAKE_PER_MIN: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 60 }),
  RATE_LIMIT_LOOKUP_PER_MIN: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 30 }),
  // requests a minute per council API key (their systems share addresses: counted by key)
  RATE_LIMIT_API_KEY_PER_MIN: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 600 }),
  // agents' login attempts a minute per account, from any number of addresses
  RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MIN: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 10 }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 4_000 }),
  DATABASE_LOCK_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 600_000, default: 2_000 }),
  INTAKE_MAX_WAIT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 3_000 }),
  INTAKE_QUEUE_LIMIT: Type.Integer({ minimum: 1, maximum: 100_000, default: 2_000 }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1_000, maximum: 600_000, default: 10_000 }),
  // route jobs one worker holds at once, placed together in batches (workers/route.ts), and
  // how many of those batches are written at once
  ROUTE_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1_000, default: 200 }),
  ROUTE_BATCHES_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 16, default: 2 }),
  // least time between two routing batches' starts while cases keep coming (none after a quiet spell)
  ROUTE_BATCH_GAP_MS: Type.Integer({ minimum: 0, maximum: 1_000, default: 50 }),
  // delivery jobs one worker holds at once (claimed and recorded in sets), and attempts in
  // flight at once to any one council system (a slow one never holds up the others)
  DELIVERY_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1_000, default: 64 }),
  DELIVERY_PER_DESTINATION: Type.Integer({ minimum: 1, maximum: 100, default: 8 }),
  // in the all-in-one process, new cases wait for routing during a burst of contacts, each
  // for at most the lag (workers/give-way.ts). Off by default: a steady load near capacity
  // can look like a burst, and its cases then wait seconds to be routed (README)
  INTAKE_PRIORITY: Type.Boolean({ default: false }),
  INTAKE_PRIORITY_MAX_LAG_MS: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
  DELIVERY_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 50, default: 8 }),
  DELIVERY_BACKOFF_MS: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 10_000 }),
  DELIVERY_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  // private addresses webhooks may reach (councils on private networks): CIDRs, comma-separated,
  // or `none`; unset: loopback outside production, none in production (resolved in loadConfig)
  WEBHOOK_ALLOW_PRIVATE_CIDRS: Type.Optional(Type.String({ pattern: '^(none|[0-9A-Fa-f:./, ]+)$' })),
  // webhook subscriptions one council may hold (a partnership key's count for the council each names)
  WEBHOOK_MAX_SUBSCRIPTIONS_PER_COUNCIL: Type.Integer({ minimum: 1, maximum: 1_000, default: 20 }),
  OUTBOX_SWEEP_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 5_000 }),
  OUTBOX_LEASE_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30_000 }),
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://' })),
  TWILIO_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  // the previous (or next) token while rotating: requests signed with either are accepted
  TWILIO_AUTH_TOKEN_SECONDARY: Type.Optional(Type.String({ minLength: 16 })),
  TWILIO_ACCOUNT_SID: Type.Optional(Type.String({ pattern: '^AC[0-9a-fA-F]{32}$' })),
  // the Twilio REST API's base URL, for a proxy (and for tests, a local stand-in); unset: Twilio's own
  TWILIO_API_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s/]+/?$' })),
  SEND_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 200, default: 4 }),
  // the largest MMS medium kept; larger ones are refused (recorded, not stored)
  MEDIA_MAX_BYTES: Type.Integer({ minimum: 1_024, maximum: 104_857_600, default: 5_242_880 }),
  SMS_THREAD_WINDOW_HOURS: Type.Integer({ minimum: 0, maximum: 2_160, default: 72 }),
  MAIL_FROM: Type.String({ minLength: 3, default: 'Switchboard <switchboard@localhost>' }),
  // email in: our SMTP listener (part of `all`, alone with `smtp`); SMTP_PORT 0 takes any free port
  SMTP_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 2525 }),
  // STARTTLS is offered when both are set (PEM files)
  SMTP_TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1 })),
  SMTP_TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  SMTP_MAX_CLIENTS: Type.Integer({ minimum: 1, maximum: 10_000, default: 200 }),
  // a small share of SMTP_MAX_CLIENTS: a few addresses holding sessions open cannot take every slot
  SMTP_MAX_CLIENTS_PER_ADDRESS: Type.Integer({ minimum: 1, maximum: 10_000, default: 10 }),
  SMTP_MAX_RECIPIENTS: Type.Integer({ minimum: 1, maximum: 1_000, default: 20 }),
  // each line a client sends (a command, or a line of a message) must arrive whole within this,
  // however it trickles in, and a client may stay silent this long while it owes us a command
  SMTP_COMMAND_TIMEOUT_S: Type.Integer({ minimum: 1, maximum: 600, default: 30 }),
  // the longest one SMTP session may last, from connect (a message being committed is answered first)
  SMTP_SESSION_TIMEOUT_S: Type.Integer({ minimum: 1, maximum: 3_600, default: 300 }),
  // the largest message taken (SMTP answers 552, the webhook 413, before any parsing)
  EMAIL_MAX_BYTES: Type.Integer({ minimum: 10_240, maximum: 104_857_600, default: 26_214_400 }),
  EMAIL_MAX_ATTACHMENTS: Type.Integer({ minimum: 0, maximum: 1_000, default: 50 }),
  EMAIL_MAX_ATTACHMENT_BYTES: Type.Integer({ minimum: 1_024, maximum: 104_857_600, default: 10_485_760 }),
  // the domain of our Message-IDs and reply addresses (reply+<token>@EMAIL_DOMAIN): mail to
  // it must reach this listener
  EMAIL_DOMAIN: Type.String({ pattern: '^[A-Za-z0-9.-]+$', default: 'switchboard.localhost' }),
  // providers posting raw mail to POST /channels/email/inbound: name:secret pairs, comma-separated
  EMAIL_INBOUND_SECRETS: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+:[^,\\s]{16,}(,[A-Za-z0-9_-]+:[^,\\s]{16,})*$' })),
  // automatic acknowledgements: at most this many to one address in the window, one per case
  EMAIL_ACK_WINDOW_MINUTES: Type.Integer({ minimum: 1, maximum: 10_080, default: 60 }),
  EMAIL_ACK_MAX_PER_WINDOW: Type.Integer({ minimum: 1, maximum: 1_000, default: 3 }),
  // agents' bearer tokens: shared by every API process (32+ characters; required in production;
  // unset elsewhere: derived from a random value of the database, src/agents/sessions.ts)
  AGENT_TOKEN_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  AGENT_TOKEN_TTL_MINUTES: Type.Integer({ minimum: 1, maximum: 1_440, default: 15 }),
  // the longest a disabled agent's token still works, and their live sockets stay open
  AGENT_REVOCATION_S: Type.Integer({ minimum: 1, maximum: 60, default: 5 }),
  // live sockets (/v1/agent/stream) one agent may hold open on one API process
  AGENT_MAX_SOCKETS: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  // how often the workers hand out auto-assigning teams' queues; a merge may be undone this long after
  ASSIGN_EVERY_MS: Type.Integer({ minimum: 50, maximum: 600_000, default: 2_000 }),
  MERGE_UNDO_MINUTES: Type.Integer({ minimum: 0, maximum: 10_080, default: 30 }),
  // how often the SLA clocks are checked (warnings and breaches raised)
  SLA_CHECK_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 15_000 }),
  // the retention job (docs/data-protection.md): how often it runs (0: never, e.g. a process
  // that leaves it to another) and how many rows one statement of it may change
  RETENTION_EVERY_MINUTES: Type.Integer({ minimum: 0, maximum: 10_080, default: 60 }),
  RETENTION_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 15_000 })
})

export type Config = Static<typeof ConfigSchema> & { PUBLIC_BASE_URL: string; OPERATOR_API_KEY: string; LOAD_DEMO_DATA: boolean; WEBHOOK_ALLOW_PRIVATE_CIDRS: string; INTAKE_PRIORITY_MAX_LAG_MS: number }

/** A development key so the demo's admin routes work out of the box; refused in production. */
export const DEMO_OPERATOR_KEY = 'switchboard-demo-operator-key'

/** Raised when the environment cannot be used; its message is the one line an operator reads. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

const hints: Record<string, string> = {
  DATABASE_URL: 'set it to a URL such as postgres://postgres@127.0.0.1:5432/switchboard',
  REDIS_URL: 'set it to a URL such as redis://127.0.0.1:6379',
  PORT: 'set it to a port number between 0 and 65535',
  PUBLIC_BASE_URL: 'set it to the URL residents and providers reach this service at, e.g. https://contact.example.gov.uk',
  OPERATOR_API_KEY: 'set it to a random secret of at least 32 characters (openssl rand -hex 24), not the published demo key',
  LOG_LEVEL: 'use one of fatal, error, warn, info, debug, trace, silent',
  TWILIO_AUTH_TOKEN: "set it to the Auth Token of the Twilio account that owns the numbers (Console → Account → API keys & tokens)",
  EMAIL_INBOUND_SECRETS: 'set it to name:secret pairs separated by commas, each secret at least 16 characters, e.g. sendgrid:0123456789abcdef0123',
  AGENT_TOKEN_SECRET: 'set it to a random secret of at least 32 characters (openssl rand -hex 24), not OPERATOR_API_KEY, the same for every API process',
  WEBHOOK_ALLOW_PRIVATE_CIDRS: 'use none, or CIDRs separated by commas, such as 10.20.0.0/16,fd00:1::/64',
  SMTP_URL: 'set it to smtp://user:pass@host:587 (outside production it may be left unset: the demo transport then keeps mails and sends none)'
}

/**
 * Reads and validates the configuration. `overrides` (used by tests and the bench) win over
 * the environment. Throws ConfigError naming the first variable at fault.
 */
export function loadConfig(overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const data: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key]
    if (value !== undefined && value !== '') data[key] = value
  }
  Object.assign(data, overrides)
  let raw: Static<typeof ConfigSchema>
  try {
    raw = envSchema<Static<typeof ConfigSchema>>({ schema: ConfigSchema, data, env: false, dotenv: false })
  } catch (err) {
    throw new ConfigError(describeSchemaError(err as Error))
  }
  if (raw.NODE_ENV === 'production') {
    // fail closed: the demo key is published in the README, and a short key can be guessed
    const key = raw.OPERATOR_API_KEY
    const problem = !key ? 'is required' : key === DEMO_OPERATOR_KEY ? 'must not be the published demo key' : key.length < 32 ? 'must be at least 32 characters' : null
    if (problem) throw new ConfigError(`OPERATOR_API_KEY ${problem} in production: ${hints.OPERATOR_API_KEY}`)
    if (!raw.AGENT_TOKEN_SECRET) throw new ConfigError(`AGENT_TOKEN_SECRET is required in production: ${hints.AGENT_TOKEN_SECRET}`)
    // one leaked secret must not give both the operator's routes and the power to mint any agent's token
    if (raw.AGENT_TOKEN_SECRET === key) throw new ConfigError(`AGENT_TOKEN_SECRET must not be OPERATOR_API_KEY in production: ${hints.AGENT_TOKEN_SECRET}`)
  }
  // a case held back for routing longer than half the lease could be found by the outbox
  // sweeper and queued a second time: unset, the lag is 15 s or half the lease if shorter
  const maxLag = raw.INTAKE_PRIORITY_MAX_LAG_MS ?? Math.min(15_000, Math.floor(raw.OUTBOX_LEASE_MS / 2))
  if (raw.INTAKE_PRIORITY && maxLag > raw.OUTBOX_LEASE_MS / 2) {
    throw new ConfigError(`INTAKE_PRIORITY_MAX_LAG_MS (${maxLag}) must be at most half of OUTBOX_LEASE_MS (${raw.OUTBOX_LEASE_MS}), or a case held back for routing would be queued a second time`)
  }
  parseTrustProxy(raw.TRUST_PROXY) // a bad address fails here, naming TRUST_PROXY, not later inside Fastify
  const allowPrivate = raw.WEBHOOK_ALLOW_PRIVATE_CIDRS ?? (raw.NODE_ENV === 'production' ? 'none' : '127.0.0.0/8,::1/128')
  const badCidr = allowPrivate === 'none' ? undefined : allowPrivate.split(',').map((s) => s.trim()).filter(Boolean).find((entry) => !isAddressOrCidr(entry))
  if (badCidr !== undefined) {
    throw new ConfigError(`WEBHOOK_ALLOW_PRIVATE_CIDRS is invalid ("${badCidr}" is not an address or CIDR): use none, or CIDRs such as 10.20.0.0/16,fd00:1::/64`)
  }
  const publicBase = (raw.PUBLIC_BASE_URL ?? `http://${raw.HOST}:${raw.PORT}`).replace(/\/+$/, '')
  return {
    ...raw,
    PUBLIC_BASE_URL: publicBase,
    OPERATOR_API_KEY: raw.OPERATOR_API_KEY ?? DEMO_OPERATOR_KEY,
    LOAD_DEMO_DATA: raw.LOAD_DEMO_DATA ?? raw.NODE_ENV !== 'production',
    WEBHOOK_ALLOW_PRIVATE_CIDRS: allowPrivate,
    INTAKE_PRIORITY_MAX_LAG_MS: maxLag
  }
}

function describeSchemaError(err: Error & { errors?: Array<{ instancePath?: string; message?: string }> }): string {
  const first = err.errors?.[0]
  const key = first?.instancePath?.replace(/^\//, '') || /\/(\w+)/.exec(err.message)?.[1] || 'configuration'
  const hint = hints[key] ? `: ${hints[key]}` : ''
  return `${key} is invalid (${first?.message ?? err.message})${hint}`
}

/**
 * TRUST_PROXY as Fastify's `trustProxy`: whose X-Forwarded-For to believe for the client's
 * address. `false` (the default: anyone can send the header, and rate limits count by
 * address), a comma-separated list of proxy addresses and CIDRs, or, only when nothing
 * reaches this service except through your proxies, `true` (every hop) or a number of hops.
 */
export function parseTrustProxy(value: string): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (value === 'true') return true
  if (value === 'false') return false
  if (/^[0-9]+$/.test(value)) {
    // Fastify 5.12 takes a bare number to mean "trust nothing", so say what a hop count
    // means (as in Express): believe the nearest n hops, whatever their address
    const hops = Number(value)
    return hops > 0 && ((_address: string, hop: number) => hop < hops)
  }
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean)
  const bad = entries.length ? entries.find((entry) => !isAddressOrCidr(entry)) : value
  if (bad !== undefined) {
    throw new ConfigError(`TRUST_PROXY is invalid ("${bad}" is not an address or CIDR): use true, false, a number of hops, or proxy addresses such as 10.0.0.0/8,192.0.2.7`)
  }
  return entries
}

function isAddressOrCidr(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/')
  const family = isIP(address)
  if (!family || rest.length) return false
  return bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
}
