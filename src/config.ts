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
  LOAD_DEMO_DATA: Type.Boolean({ default: true }),
  ROUTE_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 200, default: 16 }),
  DELIVERY_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 200, default: 8 }),
  INTAKE_PRIORITY: Type.Boolean({ default: true }),
  INTAKE_PRIORITY_MAX_LAG_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 30_000 }),
  DELIVERY_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 50, default: 8 }),
  DELIVERY_BACKOFF_MS: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 10_000 }),
  DELIVERY_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  OUTBOX_SWEEP_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 5_000 }),
  OUTBOX_LEASE_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30_000 }),
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://' })),
  MAIL_FROM: Type.String({ minLength: 3, default: 'Switchboard <switchboard@localhost>' }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 15_000 })
})

export type Config = Static<typeof ConfigSchema> & { PUBLIC_BASE_URL: string; OPERATOR_API_KEY: string }

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
  OPERATOR_API_KEY: 'set it to a random secret of at least 16 characters (openssl rand -hex 24)',
  LOG_LEVEL: 'use one of fatal, error, warn, info, debug, trace, silent',
  SMTP_URL: 'set it to smtp://user:pass@host:587 (or leave it unset for the demo transport)'
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
  if (!raw.OPERATOR_API_KEY && raw.NODE_ENV === 'production') {
    throw new ConfigError(`OPERATOR_API_KEY is required in production: ${hints.OPERATOR_API_KEY}`)
  }
  const publicBase = (raw.PUBLIC_BASE_URL ?? `http://${raw.HOST}:${raw.PORT}`).replace(/\/+$/, '')
  return { ...raw, PUBLIC_BASE_URL: publicBase, OPERATOR_API_KEY: raw.OPERATOR_API_KEY ?? DEMO_OPERATOR_KEY }
}

function describeSchemaError(err: Error & { errors?: Array<{ instancePath?: string; message?: string }> }): string {
  const first = err.errors?.[0]
  const key = first?.instancePath?.replace(/^\//, '') || /\/(\w+)/.exec(err.message)?.[1] || 'configuration'
  const hint = hints[key] ? `: ${hints[key]}` : ''
  return `${key} is invalid (${first?.message ?? err.message})${hint}`
}
