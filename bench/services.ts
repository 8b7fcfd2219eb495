/**
 * The bench's housekeeping on the machine's own Postgres and Redis: statements on the
 * admin database (create and drop the throw-away databases) and deleting a prefix's keys.
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
