import { randomBytes } from 'node:crypto'
import { Queue, type ConnectionOptions } from 'bullmq'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureDatabase, migrate } from '../../src/db/migrate.js'
import { createPool, type Db } from '../../src/db/pool.js'
import { loadDemoData } from '../../src/seed/demo-data.js'
import { deleteQueueKeys, dropDatabase, waitFor } from '../helpers/context.js'
import { startReceiver, type Receiver } from '../helpers/delivery.js'
import { exitOf, freePort, killIfAlive, spawnSwitchboard, type Spawned } from '../helpers/processes.js'

// `npm start` runs the API and the workers in one process, the workers on a thread of their
// own. A new case goes from the API to routing to its council without a queue job: no
// case:route and no case:deliver job is ever added.

const id = randomBytes(5).toString('hex')
const DATABASE_URL = `postgres://postgres@127.0.0.1:5432/sb_test_${id}`
const QUEUE_PREFIX = `sbtest-${id}`
const REDIS_URL = 'redis://127.0.0.1:6379'
const SECRET = 'whsec_all_in_one_0a1b2c3d4e5f6789'

let db: Db
let redis: Redis
let hook: Receiver
let proc: Spawned | undefined
let base: string

beforeAll(async () => {
  hook = await startReceiver(() => 200)
  await ensureDatabase(DATABASE_URL)
  db = createPool({ DATABASE_URL, DATABASE_POOL_SIZE: 2 })
  await migrate(db)
  await loadDemoData(db)
  await db.query(`update destinations set active = false where council_gss = 'E09000033' and service_code = 'missed_bin' and active`)
  await db.query(
    `insert into destinations (council_gss, service_code, team, kind, webhook_url, webhook_secret, sla_hours)
     values ('E09000033', 'missed_bin', 'Waste and street scene', 'webhook', $1, $2, 48)`,
    [hook.url, SECRET]
  )
  redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  proc = spawnSwitchboard({
    NODE_ENV: 'test',
    DATABASE_URL,
    REDIS_URL,
    QUEUE_PREFIX,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    OPERATOR_API_KEY: 'all-in-one-test-operator-key-0123',
    LOAD_DEMO_DATA: 'false'
  })
  await waitFor(
    async () => {
      if (!proc!.alive()) throw new Error(`switchboard exited early: ${proc!.output()}`)
      const res = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(1_000) }).catch(() => null)
      return res?.status === 200
    },
    30_000,
    'switchboard to be ready'
  )
}, 60_000)

afterAll(async () => {
  await killIfAlive(proc)
  await hook?.close()
  await db?.end()
  if (redis) {
    await deleteQueueKeys({ redis }, QUEUE_PREFIX)
    await redis.quit()
  }
  await dropDatabase(DATABASE_URL)
})

async function jobsEverAdded(queue: string): Promise<number> {
  const q = new Queue(queue, { connection: redis as unknown as ConnectionOptions, prefix: QUEUE_PREFIX })
  const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed')
  return Object.values(counts).reduce((a, b) => a + b, 0)
}

describe('the all-in-one process', () => {
  it('routes and delivers new cases with no queue job between intake, routing and delivery', async () => {
    const references: string[] = []
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${base}/v1/contacts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `Test Resident ${i}`, email: `all.in.one.${i}.${id}@example.com`, postcode: 'SW1A 1AA', service_code: 'missed_bin', description: 'Bin missed on collection day' })
      })
      expect(res.status).toBe(202)
      references.push(((await res.json()) as { reference: string }).reference)
    }
    await waitFor(async () => hook.requests.filter((r) => r.answered === 200).length === 5, 20_000, 'the council to have every case')
    // the council has answered; the outcome is recorded just after
    await waitFor(
      async () => (await db.query(`select 1 from deliveries d join cases c on c.id = d.case_id where c.reference = any($1) and d.state = 'delivered'`, [references])).rowCount === 5,
      10_000,
      'every delivery to be recorded'
    )
    const delivered = await db.query<{ reference: string; status: string; state: string }>(
      `select c.reference, c.status, d.state from cases c join deliveries d on d.case_id = c.id where c.reference = any($1) order by c.reference`,
      [references]
    )
    expect(delivered.rows).toEqual([...references].sort().map((reference) => ({ reference, status: 'with_back_office', state: 'delivered' })))
    await waitFor(async () => (await db.query(`select 1 from outbox where done_at is null`)).rowCount === 0, 10_000, 'every outbox row done')
    expect(await jobsEverAdded('case-route')).toBe(0)
    expect(await jobsEverAdded('case-deliver')).toBe(0)
    // the workers' log lines come from their thread, in the same output
    expect(proc!.stdout()).toContain('"thread":"workers"')

    proc!.proc.kill('SIGTERM')
    const { code } = await exitOf(proc!, 20_000)
    expect(code, proc!.stderr()).toBe(0)
    expect(proc!.stdout()).toContain('shut down cleanly')
  }, 60_000)
})
