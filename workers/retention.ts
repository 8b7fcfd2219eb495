import type { Redis } from 'ioredis'
import type { Infra } from '../src/infra.js'

/** The retention job: a repeatable BullMQ job applying the schedules (src/data-protection/retention.ts). */
export async function startRetention(_infra: Infra, _connection: Redis): Promise<{ close(): Promise<void> }> {
  return { async close() {} }
}
