import pg from 'pg'
import type { Config } from '../config.js'

export type Db = pg.Pool
export type DbClient = pg.PoolClient
/** Anything that can run a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>

// The hot paths (intake, routing, delivery) send their queries as named prepared
// statements (`{ name, text, values }`): Postgres parses and plans each once per connection
// instead of once per call, which was a third of its CPU per case under load.

// bigint ids come back as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10))

/** How long Postgres lets one statement run, or wait for a lock, on this pool's connections. */
export interface PoolTimeouts {
  statementTimeoutMs: number
  lockTimeoutMs: number
  /**
   * Plan every statement for its own values (plan_cache_mode=force_custom_plan), for pools
   * whose statements each handle a batch. Postgres otherwise settles, after five runs of a
   * prepared statement, on one generic plan for the connection's life, made for the tables
   * as they were then: on a young database that is a sequential scan, and it stays one as
   * the tables grow, unless an ANALYZE (autovacuum's) happens to invalidate it. Measured on a
   * database grown from empty with autovacuum off: the route write took 1.1 ms per case on
   * its generic plan (a whole-index scan per case), 0.3 ms planned each time. Planning costs
   * well under a millisecond per statement, shared by the batch.
   */
  customPlans?: boolean
}

export function createPool(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_SIZE'>, applicationName = 'switchboard', timeouts?: PoolTimeouts): Db {
  const pool = new pg.Pool({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    // fail fast when Postgres is away, so callers can answer 503 rather than hang
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
    application_name: applicationName,
    // Set per connection at start-up, so Postgres itself cuts short a statement stuck
    // behind a lock or a stalled disk and the caller can answer 503 within a bounded time;
    // a transaction left idle by a crashed handler cannot hold its locks for long either.
    ...(timeouts
      ? {
          statement_timeout: timeouts.statementTimeoutMs,
          lock_timeout: timeouts.lockTimeoutMs,
          idle_in_transaction_session_timeout: Math.max(10_000, timeouts.statementTimeoutMs * 2),
          ...(timeouts.customPlans ? { options: '-c plan_cache_mode=force_custom_plan' } : {})
        }
      : {})
  })
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  return pool
}

/** Runs `fn` in a transaction on one client; commits on success, rolls back on any error. */
export async function withTransaction<T>(pool: Db, fn: (client: DbClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('begin')
    const result = await fn(client)
    await client.query('commit')
    client.release()
    return result
  } catch (err) {
    // a client whose rollback fails has lost its connection: destroy it, don't pool it
    const broken = await client.query('rollback').then(() => false, () => true)
    client.release(broken)
    throw err
  }
}
