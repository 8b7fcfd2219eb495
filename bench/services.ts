/**
 * The bench's housekeeping on the machine's own Postgres and Redis: statements on the
 * admin database (create and drop the throw-away databases) and deleting a prefix's keys;
 * and the environment the app runs with in a bench.
 */
import { Redis } from 'ioredis'
import pg from 'pg'

export const BENCH_HOST = '127.0.0.1'
export const ADMIN_URL = `postgres://postgres@${BENCH_HOST}:5432/postgres`
export const REDIS_URL = `redis://${BENCH_HOST}:6379`

/** One statement on the admin database, on a connection of its own. */
export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3_000 })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end().catch(() => {})
  }
}

/** SCAN + DEL, never FLUSHALL: other things share this Redis. Returns how many keys went. */
export async function deleteKeys(pattern: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true, connectTimeout: 3_000 })
  redis.on('error', () => {})
  await redis.connect()
  let deleted = 0
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      if (keys.length) deleted += await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    await redis.quit().catch(() => redis.disconnect())
  }
  return deleted
}

/**
 * The app's environment in a bench (bench/run.ts, bench/intake-profile.ts): its own
 * database, queue prefix and ports, the demo data, logs at warn, no rate limits (the bench
 * posts from one address far faster than a resident would); then `extra`, then the
 * settings to try from BENCH_APP_ENV.
 */
export function benchAppEnv(o: { databaseUrl: string; queuePrefix: string; port: number; smtpPort: number }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: o.databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: o.queuePrefix,
    PORT: String(o.port),
    HOST: BENCH_HOST,
    SMTP_PORT: String(o.smtpPort),
    // every session comes from 127.0.0.1, as the bench's requests do
    SMTP_MAX_CLIENTS_PER_ADDRESS: '500',
    LOG_LEVEL: 'warn',
    // Not production: production refuses to start with the demo's team mailboxes and no
    // SMTP_URL, and a real SMTP conversation per delivery would make the drain and the
    // CPU figures measure a mail server rather than Switchboard. Outside production the
    // demo transport builds each mail and keeps it (the delivery is recorded 'kept'),
    // which costs what delivery cost in earlier runs of this bench.
    NODE_ENV: 'development',
    LOAD_DEMO_DATA: 'true',
    RATE_LIMIT_INTAKE_PER_MIN: '0',
    RATE_LIMIT_LOOKUP_PER_MIN: '0',
    ...extra,
    ...settingsToTry()
  }
}

/** BENCH_APP_ENV="ROUTE_CONCURRENCY=4 DATABASE_POOL_SIZE=10": settings to try on the app. */
function settingsToTry(): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of (process.env.BENCH_APP_ENV ?? '').split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=')
    if (eq > 0) out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}
