import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { wire, type LiveEvent } from './hub.js'
import { writesPerTick } from './writes-per-tick.js'

const OPEN = Buffer.from('[')
const COMMA = Buffer.from(',')
const CLOSE = Buffer.from(']')

/**
 * How a socket of the live view is sent its events. By default each event is a frame of its
 * own (one JSON object), as the live view has always sent them; the frames of one batch from
 * Redis leave in one write. With `batch` (a client that asked with `?batch=1`, as the desk
 * does), the events of one turn of the event loop go as one frame holding a JSON array: under
 * a burst, one frame instead of dozens, on the server and in the browser.
 */
export function liveSender(socket: WebSocket, tcp: Socket, opts: { batch: boolean }): (event: LiveEvent) => void {
  const holdWrites = writesPerTick(tcp)
  if (!opts.batch) {
    return (event) => {
      holdWrites()
      socket.send(wire(event), { binary: false })
    }
  }
  let pending: LiveEvent[] | null = null
  return (event) => {
    if (pending) {
      pending.push(event)
      return
    }
    pending = [event]
    process.nextTick(() => {
      const events = pending!
      pending = null
      if (socket.readyState !== socket.OPEN) return
      const parts: Buffer[] = [OPEN]
      events.forEach((e, i) => parts.push(...(i ? [COMMA, wire(e)] : [wire(e)])))
      parts.push(CLOSE)
      socket.send(Buffer.concat(parts), { binary: false })
    })
  }
}
