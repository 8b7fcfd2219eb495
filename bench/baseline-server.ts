/**
 * The bench's baseline: the least a "store it, queue it, answer 202" endpoint can cost on
 * this machine with the same stack (Fastify + schema validation, pg, BullMQ). POST /baseline
 * validates a body shaped like the web-channel contact, does ONE insert and ONE queue add,
 * awaits both and answers 202. Started by bench/run.ts; nothing consumes its queue.
 *
 * Env: DATABASE_URL, REDIS_URL, QUEUE_PREFIX, PORT (default 3311), HOST (default 127.0.0.1).
 */
import Fastify from 'fastify'
import { Queue, type ConnectionOptions } from 'bullmq'
import { Redis } from 'ioredis'
import pg from 'pg'

const env = process.env
const databaseUrl = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/switchboard_bench'
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = env.QUEUE_PREFIX ?? 'sbbench'
const port = Number(env.PORT ?? 3311)
const host = env.HOST ?? '127.0.0.1'

// The same shape and limits as the web channel's body (src/channels/web/web-contact.ts),
// kept here as plain JSON schema so the baseline does not depend on the app's code.
const Body = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', maxLength: 200 },
    email: { type: 'string', maxLength: 254 },
    phone: { type: 'string', maxLength: 40 },
    postcode: { type: 'string', maxLength: 16 },
    lat: { type: 'number', minimum: -90, maximum: 90 },
    long: { type: 'number', minimum: -180, maximum: 180 },
    service_code: { type: 'string', maxLength: 64 },
    description: { type: 'string', maxLength: 4000 },
    council: { type: 'string', pattern: '^[EWSN][0-9]{8}$' },
    reference: { type: 'string', maxLength: 32 }
  }
} as const

const Accepted = {
  type: 'object',
  properties: { id: { type: 'integer' } },
  required: ['id']
} as const

async function main(): Promise<void> {
  // the app's default DATABASE_POOL_SIZE
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 20, application_name: 'switchboard-bench-baseline' })
  pool.on('error', () => {})
  await pool.query('select 1')
  // bullmq 6 under ESM: pass a ready ioredis client as the connection
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  redis.on('error', () => {})
  await redis.ping()
  const queue = new Queue('baseline', { connection: redis as unknown as ConnectionOptions, prefix })
  await queue.waitUntilReady()

  const app = Fastify({ logger: false, bodyLimit: 65_536 })
  app.get('/ready', async () => ({ status: 'ready' }))
  app.post('/baseline', { schema: { body: Body, response: { 202: Accepted } } }, async (req, reply) => {
    const { rows } = await pool.query<{ id: string }>('insert into bench_baseline (payload) values ($1) returning id', [req.body])
    const id = Number(rows[0]?.id)
    await queue.add('baseline', { id })
    return reply.code(202).send({ id })
  })
  await app.listen({ host, port })

  let closing = false
  const close = async () => {
    if (closing) return
    closing = true
    await app.close().catch(() => {})
    await queue.close().catch(() => {})
    await redis.quit().catch(() => redis.disconnect())
    await pool.end().catch(() => {})
    process.exit(0)
  }
  process.on('SIGTERM', () => void close())
  process.on('SIGINT', () => void close())
}

main().catch((err: unknown) => {
  console.error('baseline-server: failed to start:', err)
  process.exit(1)
})
