import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Db } from '../../src/db/pool.js'
import { verifyWebhook } from '../../src/delivery/signature.js'
import { startReceiver, type Receiver } from '../helpers/delivery.js'
import { exitOf, type Spawned } from '../helpers/processes.js'
import { startSwitchboardWithWebhook, type RunningSwitchboard } from '../helpers/switchboard.js'

const id = Math.random().toString(36).slice(2, 8)
const SECRET = 'whsec_shutdown_0a1b2c3d4e5f6789'
const ANSWER_DELAY_MS = 1_500

let running: RunningSwitchboard | undefined
let db: Db
let hook: Receiver
let proc: Spawned | undefined
let base: string

beforeAll(async () => {
  // a back office that takes its time to answer
  hook = await startReceiver(async () => {
    await sleep(ANSWER_DELAY_MS)
    return 200
  })
  running = await startSwitchboardWithWebhook({ webhookUrl: hook.url, secret: SECRET })
  ;({ db, proc, base } = running)
}, 60_000)

afterAll(async () => {
  await running?.close()
  await hook?.close()
})

describe('shutting down on SIGTERM', () => {
  it('finishes the delivery in flight, then exits 0 saying it shut down cleanly', async () => {
    const arrived = hook.nextRequest()
    const res = await fetch(`${base}/v1/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `shutdown.${id}@example.com`, postcode: 'SW1A 1AA', service_code: 'missed_bin', description: 'Bin missed on collection day' })
    })
    expect(res.status).toBe(202)
    const { reference } = (await res.json()) as { reference: string }

    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the delivery never reached the receiver\nstdout: ${proc!.stdout()}\nstderr: ${proc!.stderr()}`)), 15_000)
    })
    const req = await Promise.race([arrived, timeout]).finally(() => clearTimeout(timer))
    // the back office has the case but has not answered yet: stop the service now
    const signalledAt = Date.now()
    expect(proc!.proc.kill('SIGTERM')).toBe(true)

    const { code, signal } = await exitOf(proc!, 20_000)
    const tookMs = Date.now() - signalledAt
    expect({ code, signal }, proc!.stderr()).toEqual({ code: 0, signal: null })
    expect(tookMs).toBeGreaterThanOrEqual(ANSWER_DELAY_MS - 300) // it waited for the answer
    expect(proc!.stdout()).toContain('shutting down: draining requests and jobs')
    expect(proc!.stdout()).toContain('shut down cleanly')
    expect(proc!.stderr()).toBe('')

    // the in-flight delivery was completed and recorded, not abandoned
    expect(hook.requests).toHaveLength(1)
    expect(hook.requests[0]!.answered).toBe(200)
    expect(verifyWebhook(SECRET, String(req.headers['x-switchboard-timestamp']), req.body, String(req.headers['x-switchboard-signature']))).toBe(true)
    const { rows } = await db.query<{ state: string; attempts: number; public_id: string; status: string }>(
      `select d.state, d.attempts, d.public_id, c.status from deliveries d join cases c on c.id = d.case_id where c.reference = $1`,
      [reference]
    )
    expect(rows[0]).toMatchObject({ state: 'delivered', attempts: 1, public_id: req.headers['x-switchboard-delivery'], status: 'with_back_office' })
    const pending = await db.query(`select id from outbox where done_at is null`)
    expect(pending.rows).toHaveLength(0)

    // and it no longer answers
    const after = await fetch(`${base}/health`, { signal: AbortSignal.timeout(1_000) }).catch(() => null)
    expect(after).toBeNull()
  })
})
