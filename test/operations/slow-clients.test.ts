import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestContext, type TestContext } from '../helpers/context.js'

// REQUEST_TIMEOUT_MS at its least (1 s), so a client that trickles its request in must be
// cut off within a couple of seconds; before Node's limits were set, Node only looked every
// 30 s and gave headers 60 s, whatever the setting said.
const TIMEOUT_MS = 1_000
const CUT_WITHIN_MS = 2 * TIMEOUT_MS + 500

let ctx: TestContext
let port: number

beforeAll(async () => {
  ctx = await createTestContext({ REQUEST_TIMEOUT_MS: TIMEOUT_MS })
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  port = (ctx.app.server.address() as AddressInfo).port
})

afterAll(async () => {
  await ctx?.close()
})

interface Trickle {
  /** what the server answered before it closed the connection, and when it closed */
  ended: Promise<{ answer: string; afterMs: number }>
  stop(): void
}

/** Opens a connection, sends `head` at once, then one byte of `drip` every 200 ms. */
function trickle(head: string, drip: string): Trickle {
  const started = Date.now()
  const socket: Socket = connect(port, '127.0.0.1')
  let answer = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => (answer += chunk))
  socket.on('error', () => {})
  socket.write(head)
  let i = 0
  const timer = setInterval(() => {
    if (socket.writable) socket.write(drip[i++ % drip.length]!)
  }, 200)
  const ended = new Promise<{ answer: string; afterMs: number }>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer)
      resolve({ answer, afterMs: Date.now() - started })
    })
  })
  return {
    ended,
    stop: () => {
      clearInterval(timer)
      socket.destroy()
    }
  }
}

/** The trickle's end, or a failure naming how long it was left hanging. */
async function endedWithin(t: Trickle, ms: number) {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the server still held the connection after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([t.ended, hung])
  } finally {
    clearTimeout(timer)
    t.stop()
  }
}

describe('a client that trickles its request in (REQUEST_TIMEOUT_MS)', () => {
  it('is answered 408 and cut off when its headers never finish', async () => {
    const t = trickle('POST /v1/contacts HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: a\r\n')
    const { answer, afterMs } = await endedWithin(t, CUT_WITHIN_MS + 2_000)
    expect(afterMs).toBeLessThan(CUT_WITHIN_MS)
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
  })

  it('is answered 408 and cut off when its body never finishes', async () => {
    const body = JSON.stringify({ email: 'slow@example.com', postcode: 'SW1A 1AA', description: 'x'.repeat(200) })
    const head = `POST /v1/contacts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
    const t = trickle(head, body)
    const { answer, afterMs } = await endedWithin(t, CUT_WITHIN_MS + 2_000)
    expect(afterMs).toBeLessThan(CUT_WITHIN_MS)
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
    // nothing half-sent was stored
    expect(await ctx.query(`select 1 from cases where reported_email = 'slow@example.com'`)).toEqual([])
  })

  it('does not hold up a client that sends its request at once', async () => {
    const slow = trickle('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: a\r\n')
    const res = await fetch(`http://127.0.0.1:${port}/health`)
    expect(res.status).toBe(200)
    await endedWithin(slow, CUT_WITHIN_MS + 2_000)
  })
})
