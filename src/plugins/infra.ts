import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Infra } from '../infra.js'

/** What of the process's Infra every route reads from the app, typed as Infra declares it. */
type Decorated = Pick<Infra, 'config' | 'db' | 'redis' | 'queues' | 'catalogue' | 'intakePressure'>

declare module 'fastify' {
  interface FastifyInstance extends Decorated {}
}

/**
 * What the process holds (src/infra.ts), as decorators on the app, so every route reads
 * `app.db`, `app.queues`, `app.catalogue`… and no route needs the Infra passed down to it.
 * Wrapped with fastify-plugin, so they are seen app-wide; registered first, as the rest
 * depend on it (by the name 'infra'). The logger is Fastify's own `app.log` (the same pino
 * logger, given to Fastify as its loggerInstance), so it is not decorated again.
 */
export const infraDecorators = fp(
  async (app: FastifyInstance, opts: { infra: Infra }) => {
    const { infra } = opts
    app.decorate('config', infra.config)
    app.decorate('db', infra.db)
    app.decorate('redis', infra.redis)
    app.decorate('queues', infra.queues)
    app.decorate('catalogue', infra.catalogue)
    app.decorate('intakePressure', infra.intakePressure)
  },
  { name: 'infra', fastify: '5.x' }
)
