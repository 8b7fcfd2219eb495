import type { Socket } from 'node:net'

/**
 * Holds a TCP socket's writes until the current turn of the event loop is over, then sends
 * them together: the live events of one batch from Redis reach each agent's socket in one
 * write, not one per event. Call the answer before each write; the first call of a turn
 * corks the socket, and the uncork is queued for the end of the turn.
 */
export function writesPerTick(tcp: Socket): () => void {
  let corked = false
  return () => {
    if (corked) return
    corked = true
    tcp.cork()
    process.nextTick(() => {
      corked = false
      tcp.uncork()
    })
  }
}
