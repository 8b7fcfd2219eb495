import type { Redis } from 'ioredis'

/**
 * Removes every trace of some strings (a resident's email addresses, phone numbers, name)
 * from this deployment's Redis keys. By design nothing personal is kept there: jobs carry
 * ids, rate limits count by address or key id and expire within a minute. What could still
 * hold a resident's details is text Switchboard did not write itself: a provider's error
 * message kept as a retried job's failedReason or stacktrace, or in a queue's event stream.
 * So erasure checks every key under the prefix rather than trusting the design.
 *
 * Hand-written: no library scrubs values across Redis types. It walks the keys with SCAN
 * (never KEYS) and handles each type: a matching string key is deleted, a matching hash
 * field is overwritten, a matching list, set or sorted-set member is removed, a matching
 * stream entry is deleted.
 */
export async function scrubRedis(redis: Redis, prefix: string, needles: string[]): Promise<{ keysChecked: number; changed: number }> {
  const wanted = [...new Set(needles.map((n) => n.trim().toLowerCase()).filter((n) => n.length >= 4))]
  let keysChecked = 0
  let changed = 0
  if (!wanted.length) return { keysChecked, changed }
  const holds = (value: string | null | undefined) => {
    if (!value) return false
    const lower = value.toLowerCase()
    return wanted.some((n) => lower.includes(n))
  }
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500)
    cursor = next
    for (const key of keys) {
      keysChecked++
      const type = await redis.type(key)
      if (type === 'string') {
        if (holds(await redis.get(key))) {
          await redis.del(key)
          changed++
        }
      } else if (type === 'hash') {
        const fields = await redis.hgetall(key)
        for (const [field, value] of Object.entries(fields)) {
          if (!holds(value)) continue
          // a job's data and return value are JSON that BullMQ parses: keep them parseable
          await redis.hset(key, field, field === 'data' || field === 'returnvalue' || field === 'opts' ? '{}' : '(redacted)')
          changed++
        }
      } else if (type === 'list') {
        for (const item of await redis.lrange(key, 0, -1)) {
          if (holds(item)) changed += await redis.lrem(key, 0, item)
        }
      } else if (type === 'set') {
        for (const item of await redis.smembers(key)) {
          if (holds(item)) changed += await redis.srem(key, item)
        }
      } else if (type === 'zset') {
        for (const item of await redis.zrange(key, '0', '-1')) {
          if (holds(item)) changed += await redis.zrem(key, item)
        }
      } else if (type === 'stream') {
        // BullMQ's event streams are capped (about 10,000 entries), so reading one whole is bounded
        const entries = await redis.xrange(key, '-', '+')
        const ids = entries.filter(([, fields]) => fields.some((f) => holds(f))).map(([id]) => id)
        if (ids.length) changed += await redis.xdel(key, ...ids)
      }
    }
  } while (cursor !== '0')
  return { keysChecked, changed }
}
