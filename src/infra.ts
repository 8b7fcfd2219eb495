import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import { ConfigError } from './config.js'
import { createPool, type Db } from './db/pool.js'
import { createQueues, type Queues } from './jobs/queues.js'
import { IntakePressure } from './lib/intake-pressure.js'
import { Catalogue } from './catalogue/catalogue.js'

/** What a process holds: one pg pool, one Redis client for adding jobs, the queues, reference data. */
export interface Infra {
  config: Config
  db: Db
  redis: Redis
  queues: Queues
  catalogue: Catalogue
  /** contacts being accepted right now (the API counts, the workers read) */
  intakePressure: IntakePressure
  log: Logger
  close(): Promise<void>
}

export function createRedis(url: string, forWorkers: boolean): Redis {
  return new Redis(url, {
    // BullMQ workers block on Redis and must never give up a command; producers should fail
    // fast instead, because the outbox holds the work and will enqueue it later.
    maxRetriesPerRequest: forWorkers ? null : 1,
    enableOfflineQueue: forWorkers,
    lazyConnect: true,
    connectTimeout: 3_000
  })
}

/** Opens Postgres and Redis and checks both answer; a failure names the setting to fix. */
export async function createInfra(config: Config, log: Logger): Promise<Infra> {
  const db = createPool(config, 'switchboard', { statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS, lockTimeoutMs: config.DATABASE_LOCK_TIMEOUT_MS })
  try {
    await db.query('select 1')
  } catch (err) {
    await db.end().catch(() => {})
    throw new ConfigError(
      `cannot reach Postgres at DATABASE_URL=${redactUrl(config.DATABASE_URL)} (${(err as Error).message}): start Postgres or fix DATABASE_URL`
    )
  }
  const redis = createRedis(config.REDIS_URL, false)
  redis.on('error', () => {}) // reported through failed commands and /ready; avoid an unhandled 'error' event
  try {
    await redis.connect()
    await redis.ping()
  } catch (err) {
    redis.disconnect()
    await db.end().catch(() => {})
    throw new ConfigError(
      `cannot reach Redis at REDIS_URL=${redactUrl(config.REDIS_URL)} (${(err as Error).message}): start Redis or fix REDIS_URL`
    )
  }
  const queues = createQueues(redis, {
    prefix: config.QUEUE_PREFIX,
    deliveryAttempts: config.DELIVERY_ATTEMPTS,
    deliveryBackoffMs: config.DELIVERY_BACKOFF_MS
  })
  // loaded by the caller once migrations have run
  const catalogue = new Catalogue(db)
  return {
    config,
    db,
    redis,
    queues,
    catalogue,
    intakePressure: new IntakePressure(),
    log,
    async close() {
      catalogue.stop()
      await queues.close().catch(() => {})
      await redis.quit().catch(() => redis.disconnect())
      await db.end().catch(() => {})
    }
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable URL)'
  }
}
