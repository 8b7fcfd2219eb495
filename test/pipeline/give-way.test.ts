import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { Queue, Worker, type ConnectionOptions } from 'bullmq'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { IntakePressure } from '../../src/lib/intake-pressure.js'
import { createLogger } from '../../src/logger.js'
import { startGiveWay, type GiveWay } from '../../workers/give-way.js'
import { waitFor } from '../helpers/context.js'

// Real BullMQ workers on the real Redis: what is tested is that BullMQ honours the
// concurrency the policy sets, not just the arithmetic of the policy.
const prefix = `sbtest-giveway-${randomBytes(4).toString('hex')}`
let connection: Redis
let route: Worker
let deliver: Worker
let routeQueue: Queue
let running = 0
let mostAtOnce = 0
let release: (() => void) | null = null
const logs: string[] = []
const log = createLogger(
  { LOG_LEVEL: 'info' },
  new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk))
      done()
    }
  })
)
let giveWay: GiveWay | null = null

beforeAll(async () => {
  connection = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null })
  const conn = connection as unknown as ConnectionOptions
  routeQueue = new Queue('case-route', { connection: conn, prefix })
  // each job holds its slot until the test lets it go, so the number running at once shows
  const hold = async () => {
    running++
    mostAtOnce = Math.max(mostAtOnce, running)
    await new Promise<void>((resolve) => setTimeout(resolve, 30))
    running--
  }
  route = new Worker('case-route', hold, { connection: conn, prefix, concurrency: 16 })
  deliver = new Worker('case-deliver', hold, { connection: conn, prefix, concurrency: 8 })
  await Promise.all([route.waitUntilReady(), deliver.waitUntilReady()])
})

afterEach(() => {
  release?.()
  release = null
  giveWay?.stop()
  giveWay = null
  logs.length = 0
})

afterAll(async () => {
  await Promise.all([route?.close(), deliver?.close()])
  await routeQueue?.obliterate({ force: true }).catch(() => {})
  await routeQueue?.close()
  const keys = await connection.keys(`${prefix}:*`)
  if (keys.length) await connection.del(...keys)
  await connection?.quit()
})

/** Keeps `n` contacts "in hand" at the API until the returned function is called. */
function burst(pressure: IntakePressure, n: number): () => void {
  const ends = Array.from({ length: n }, () => pressure.begin())
  return () => ends.forEach((end) => end())
}

describe('routing and delivery give way to a burst of contacts (all-in-one process)', () => {
  it('drop to one job at a time while the API is saturated, and climb back to their settings afterwards', async () => {
    const pressure = new IntakePressure()
    giveWay = startGiveWay(pressure, { route, others: [deliver] }, log, { intervalMs: 20, maxLagMs: 60_000 })
    const end = burst(pressure, 6)
    release = end
    await waitFor(async () => route.concurrency === 1 && deliver.concurrency === 1, 2_000, 'both workers to drop to 1')
    expect(logs.join('')).toContain('burst of contacts: routing and delivery give way')

    // BullMQ runs no more than that: 12 waiting cases go one at a time, and all are done
    mostAtOnce = 0
    await routeQueue.addBulk(Array.from({ length: 12 }, (_, i) => ({ name: 'route', data: { i } })))
    await waitFor(async () => ((await routeQueue.getJobCounts('completed')).completed ?? 0) >= 12, 5_000, '12 jobs done')
    expect(mostAtOnce).toBe(1)

    end()
    release = null
    await waitFor(async () => route.concurrency === 16 && deliver.concurrency === 8, 2_000, 'both workers back to 16 and 8')
    expect(logs.join('')).toContain('burst over: routing and delivery back to full concurrency')
  })

  it('leaves a steady stream alone: one contact after another is no burst', async () => {
    const pressure = new IntakePressure()
    // what the policy decides on is its reading of the pressure: counted, so the test waits for readings, not time
    let readings = 0
    const counted = {
      sample() {
        readings++
        return pressure.sample()
      }
    }
    giveWay = startGiveWay(counted, { route, others: [deliver] }, log, { intervalMs: 20, maxLagMs: 60_000 })
    // the API always has one contact in hand (busy all the time), but never a crowd
    let stop = false
    const stream = (async () => {
      while (!stop) {
        const end = pressure.begin()
        await new Promise((r) => setTimeout(r, 2))
        end()
      }
    })()
    // fifteen readings of the stream, each one a chance to take it for a burst
    await waitFor(async () => readings >= 15, 5_000, 'the policy to read the pressure 15 times')
    stop = true
    await stream
    expect([route.concurrency, deliver.concurrency]).toEqual([16, 8])
    expect(logs.join('')).not.toContain('give way')
  })

  it('stops giving way once a case has waited longer than the routing lag allowed', async () => {
    const pressure = new IntakePressure()
    giveWay = startGiveWay(pressure, { route, others: [deliver] }, log, { intervalMs: 20, maxLagMs: 1_000 })
    release = burst(pressure, 6)
    await waitFor(async () => route.concurrency === 1, 2_000, 'routing to drop to 1')
    // a case stored two seconds ago reaches the front of the queue while the burst goes on
    await routeQueue.add('route', { late: true }, { timestamp: Date.now() - 2_000 })
    await waitFor(async () => route.concurrency === 16 && deliver.concurrency === 8, 2_000, 'full concurrency despite the burst')
  })
})
