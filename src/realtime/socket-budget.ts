/**
 * How many messages one agent's socket may send: a burst of `burst`, then `perSecond` a
 * second. A token bucket of a few lines, by hand: @fastify/rate-limit counts HTTP requests
 * (in Redis, a round trip each), and a socket's messages need a count in memory, per socket.
 */
export interface SocketBudget {
  /** false once the socket has sent more than its share: the caller closes it */
  take(): boolean
}

export function socketBudget(burst = 20, perSecond = 2, now: () => number = Date.now): SocketBudget {
  let tokens = burst
  let at = now()
  return {
    take() {
      const t = now()
      tokens = Math.min(burst, tokens + ((t - at) / 1000) * perSecond)
      at = t
      if (tokens < 1) return false
      tokens -= 1
      return true
    }
  }
}
