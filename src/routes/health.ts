import type { FastifyInstance } from 'fastify'

const CHECK_TIMEOUT_MS = 2_000

function withTimeout<T>(p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS).unref())])
}

/** /health: the process answers. /ready: it can do its work (Postgres and Redis reachable). */
export async function healthRoutes(app: FastifyInstance) {
  const { db, redis } = app
  const Health = { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } as const
  app.get('/health', { schema: { tags: ['operations'], summary: 'Liveness: the process is up', response: { 200: Health } } }, async () => ({ status: 'ok' }))

  const Ready = {
    type: 'object',
    properties: { status: { type: 'string', enum: ['ready', 'unavailable'] }, postgres: { type: 'string' }, redis: { type: 'string' } },
    required: ['status', 'postgres', 'redis']
  } as const
  app.get(
    '/ready',
    { schema: { tags: ['operations'], summary: 'Readiness: Postgres and Redis are reachable', response: { 200: Ready, 503: Ready } } },
    async (_req, reply) => {
      const [pgOk, redisOk] = await Promise.all([
        withTimeout(db.query('select 1')).then(() => true, () => false),
        withTimeout(redis.ping()).then(() => true, () => false)
      ])
      const body = { status: pgOk && redisOk ? 'ready' : 'unavailable', postgres: pgOk ? 'ok' : 'unreachable', redis: redisOk ? 'ok' : 'unreachable' } as const
      if (!(pgOk && redisOk)) reply.code(503).header('retry-after', '5')
      return body
    }
  )
}
