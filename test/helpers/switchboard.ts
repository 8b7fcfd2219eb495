import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { ensureDatabase, migrate } from '../../src/db/migrate.js'
import { createPool, type Db } from '../../src/db/pool.js'
import { loadDemoData } from '../../src/seed/demo-data.js'
import { deleteQueueKeys, dropDatabase, waitFor } from './context.js'
import { freePort, killIfAlive, spawnSwitchboard, type Spawned } from './processes.js'

export interface RunningSwitchboard {
  /** the process's own database, for the test to look into */
  db: Db
  /** a Redis client on the same server, for the test to look at the queues */
  redis: Redis
  proc: Spawned
  /** http://127.0.0.1:<port> */
  base: string
  queuePrefix: string
  /** kills the process if it still runs, and removes its database and queue keys */
  close(): Promise<void>
}

/**
 * The real entry point (`src/main.ts all`) as an operator starts it, on a database and a
 * queue prefix of its own, prepared before it starts: migrated, demo data loaded, and
 * Westminster's missed bins sent to a signed webhook at `webhookUrl`. Resolves once /ready
 * answers 200.
 */
export async function startSwitchboardWithWebhook(opts: { webhookUrl: string; secret: string }): Promise<RunningSwitchboard> {
  const id = randomBytes(5).toString('hex')
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/sb_test_${id}`
  const queuePrefix = `sbtest-${id}`
  const redisUrl = 'redis://127.0.0.1:6379'
  await ensureDatabase(databaseUrl)
  const db = createPool({ DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: 2 })
  await migrate(db)
  await loadDemoData(db)
  await db.query(`update destinations set active = false where council_gss = 'E09000033' and service_code = 'missed_bin' and active`)
  await db.query(
    `insert into destinations (council_gss, service_code, team, kind, webhook_url, webhook_secret, sla_hours)
     values ('E09000033', 'missed_bin', 'Waste and street scene', 'webhook', $1, $2, 48)`,
    [opts.webhookUrl, opts.secret]
  )
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const proc = spawnSwitchboard({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: queuePrefix,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    OPERATOR_API_KEY: `test-operator-key-${id}-0123`,
    LOAD_DEMO_DATA: 'false' // loaded above
  })
  const close = async () => {
    await killIfAlive(proc)
    await db.end()
    await deleteQueueKeys({ redis }, queuePrefix)
    await redis.quit()
    await dropDatabase(databaseUrl)
  }
  try {
    await waitFor(
      async () => {
        if (!proc.alive()) throw new Error(`switchboard exited early: ${proc.output()}`)
        const res = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(1_000) }).catch(() => null)
        return res?.status === 200
      },
      30_000,
      'switchboard to be ready'
    )
  } catch (err) {
    await close()
    throw err
  }
  return { db, redis, proc, base, queuePrefix, close }
}
