import { ConfigError, loadConfig } from '../config.js'
import { ensureDatabase, migrate } from '../db/migrate.js'
import { createPool, type Db } from '../db/pool.js'
import { redactUrl } from '../infra.js'

/**
 * Runs `fn` against the configured database, opened the way the app opens it: created if
 * missing and migrated, so a command works on a fresh machine. Unlike `npm start` it loads
 * no demo data, starts no workers and needs no Redis. The pool is closed before returning.
 */
export async function withDatabase<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const config = loadConfig()
  try {
    await ensureDatabase(config.DATABASE_URL)
  } catch (err) {
    // a refused connection to 'localhost' is an AggregateError with an empty message
    const why = (err as Error).message || (err as { code?: string }).code || String(err)
    throw new ConfigError(`cannot reach Postgres at DATABASE_URL=${redactUrl(config.DATABASE_URL)} (${why}): start Postgres or fix DATABASE_URL`)
  }
  // a command is one operator's few statements: two connections are plenty
  const pool = createPool({ DATABASE_URL: config.DATABASE_URL, DATABASE_POOL_SIZE: 2 }, 'switchboard-cli')
  try {
    await migrate(pool)
    return await fn(pool)
  } finally {
    await pool.end()
  }
}

/**
 * Writes a command's result to stdout, the only thing written there, so scripts can capture
 * it. An array is written one element per line: readable, and still one JSON document.
 */
export function printJson(value: unknown): void {
  const text = Array.isArray(value)
    ? value.length ? `[\n${value.map((v) => `  ${JSON.stringify(v)}`).join(',\n')}\n]` : '[]'
    : JSON.stringify(value, null, 2)
  process.stdout.write(`${text}\n`)
}
