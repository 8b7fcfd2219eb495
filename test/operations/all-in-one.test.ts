import { Queue, type ConnectionOptions } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Db } from '../../src/db/pool.js'
import { waitFor } from '../helpers/context.js'
import { startReceiver, type Receiver } from '../helpers/delivery.js'
import { exitOf } from '../helpers/processes.js'
import { startSwitchboardWithWebhook, type RunningSwitchboard } from '../helpers/switchboard.js'

// `npm start` runs the API and the workers in one process, the workers on a thread of their
// own. A new case goes from the API to routing to its council without a queue job: no
// case:route and no case:deliver job is ever added.

const id = Math.random().toString(36).slice(2, 8)
const SECRET = 'whsec_all_in_one_0a1b2c3d4e5f6789'

let running: RunningSwitchboard
let db: Db
let hook: Receiver

beforeAll(async () => {
  hook = await startReceiver(() => 200)
  running = await startSwitchboardWithWebhook({ webhookUrl: hook.url, secret: SECRET })
  db = running.db
}, 60_000)

afterAll(async () => {
  await running?.close()
  await hook?.close()
})

async function jobsEverAdded(queue: string): Promise<number> {
  const q = new Queue(queue, { connection: running.redis as unknown as ConnectionOptions, prefix: running.queuePrefix })
  const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed')
  return Object.values(counts).reduce((a, b) => a + b, 0)
}

describe('the all-in-one process', () => {
  it('routes and delivers new cases with no queue job between intake, routing and delivery', async () => {
    const references: string[] = []
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${running.base}/v1/contacts`, {
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
    expect(running.proc.stdout()).toContain('"thread":"workers"')

    running.proc.proc.kill('SIGTERM')
    const { code } = await exitOf(running.proc, 20_000)
    expect(code, running.proc.stderr()).toBe(0)
    expect(running.proc.stdout()).toContain('shut down cleanly')
  }, 60_000)
})
