import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, postContact, type TestContext } from '../helpers/context.js'
import { repointWebhook, useWebhookDestination, waitDelivery } from '../helpers/delivery.js'
import { WESTMINSTER } from '../helpers/councils.js'

// far longer than a capped read takes, so a delivery recorded well within it was not saved by the timeout
const TIMEOUT_MS = 20_000
// the receiver stops by itself after this much, or this long, whatever happens
const MAX_BYTES = 512 * 1024 * 1024
const MAX_MS = 30_000

interface EndlessReceiver {
  url: string
  /** per request: bytes written, and when Switchboard hung up (0 while connected) */
  answers: { written: number; hungUpAt: number }[]
  close(): Promise<void>
}

/** A back office that answers `status` and then streams a body that never ends, as fast as it is read. */
async function startEndlessReceiver(status: number): Promise<EndlessReceiver> {
  const answers: EndlessReceiver['answers'] = []
  const chunk = Buffer.alloc(16 * 1024, 'x')
  const server: Server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const answer = { written: 0, hungUpAt: 0 }
      answers.push(answer)
      const started = Date.now()
      res.writeHead(status, { 'content-type': 'application/json' })
      res.on('close', () => {
        answer.hungUpAt = Date.now()
      })
      const pump = () => {
        while (!res.destroyed && answer.written < MAX_BYTES && Date.now() - started < MAX_MS) {
          answer.written += chunk.length
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        if (!res.destroyed) res.end()
      }
      pump()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/hooks/switchboard`,
    answers,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

describe('a webhook receiver answering with an endless body', () => {
  let ctx: TestContext
  let destinationId: number
  const receivers: EndlessReceiver[] = []

  beforeAll(async () => {
    ctx = await createTestContext({ DELIVERY_TIMEOUT_MS: TIMEOUT_MS, DELIVERY_ATTEMPTS: 3, DELIVERY_BACKOFF_MS: 5_000 }, { workers: true })
    destinationId = await useWebhookDestination(ctx, {
      council: WESTMINSTER,
      service: 'missed_bin',
      url: 'http://127.0.0.1:9/not-configured-yet',
      secret: 'whsec_endless_body_0123456789abcdef'
    })
  })
  afterAll(async () => {
    for (const r of receivers) await r.close()
    await ctx?.close()
  })

  async function report(receiver: EndlessReceiver) {
    await repointWebhook(ctx, destinationId, receiver.url)
    const res = await postContact(ctx, { email: `endless.${receivers.length}@example.com`, postcode: 'SW1A 1AA', service_code: 'missed_bin', description: 'Bin not collected' })
    expect(res.statusCode, res.body).toBe(202)
    return (res.json() as { reference: string }).reference
  }

  it('is recorded delivered on its 200 promptly, after reading only the start of the body', async () => {
    const receiver = await startEndlessReceiver(200)
    receivers.push(receiver)
    const reference = await report(receiver)

    const started = Date.now()
    const delivery = await waitDelivery(ctx, reference, ['delivered', 'retrying', 'dead'], TIMEOUT_MS / 2)
    expect(delivery).toMatchObject({ state: 'delivered', attempts: 1, last_status: 200 })
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS / 2)
    // Switchboard hung up instead of reading on: the receiver was still sending
    expect(receiver.answers).toHaveLength(1)
    // (the receiver hears of the hang-up a moment after the delivery is recorded)
    await expect.poll(() => receiver.answers[0]!.hungUpAt, { timeout: 5_000, interval: 20 }).toBeGreaterThan(0)
    expect(receiver.answers[0]!.written).toBeLessThan(MAX_BYTES)
  })

  it('still goes by the status code: a 503 with an endless body is retried', async () => {
    const receiver = await startEndlessReceiver(503)
    receivers.push(receiver)
    const reference = await report(receiver)

    const delivery = await waitDelivery(ctx, reference, ['retrying', 'dead', 'delivered'], TIMEOUT_MS / 2)
    expect(delivery).toMatchObject({ state: 'retrying', last_status: 503 })
    expect(delivery.last_error).toContain('HTTP 503')
  })
})
