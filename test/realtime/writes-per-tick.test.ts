import { once } from 'node:events'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { writesPerTick } from '../../src/realtime/writes-per-tick.js'

// The live view's sockets write a batch of events at once: over real TCP on 127.0.0.1, the
// writes of one turn arrive together, and the socket is not left corked after it.

async function pair(): Promise<{ server: ReturnType<typeof createServer>; sender: Socket; chunks: Buffer[] }> {
  const chunks: Buffer[] = []
  const server = createServer((s) => s.on('data', (d) => chunks.push(d)))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const sender = connect((server.address() as AddressInfo).port, '127.0.0.1')
  await once(sender, 'connect')
  sender.setNoDelay(true)
  return { server, sender, chunks }
}

describe('writes per tick', () => {
  it('sends the writes of one turn in one go, and writes of a later turn go out at once too', async () => {
    const { server, sender, chunks } = await pair()
    try {
      const hold = writesPerTick(sender)
      for (let i = 0; i < 50; i++) {
        hold()
        sender.write(`event ${i};`)
      }
      expect(sender.writableCorked).toBe(1)
      await new Promise((r) => setTimeout(r, 100))
      expect(sender.writableCorked).toBe(0)
      expect(Buffer.concat(chunks).toString()).toBe(Array.from({ length: 50 }, (_, i) => `event ${i};`).join(''))
      expect(chunks.length).toBe(1)

      hold()
      sender.write('later;')
      await new Promise((r) => setTimeout(r, 100))
      expect(Buffer.concat(chunks).toString().endsWith('later;')).toBe(true)
      expect(sender.writableCorked).toBe(0)
    } finally {
      sender.destroy()
      server.close()
    }
  })
})
