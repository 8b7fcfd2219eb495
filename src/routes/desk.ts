import { existsSync } from 'node:fs'
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { projectRoot } from '../lib/paths.js'

/** Where `npm run build` puts the desk (src/desk, built with Vite). */
export const DESK_DIR = join(projectRoot, 'dist', 'desk')

/**
 * The agents' desk at /desk: static files, built from src/desk by `npm run build` (which
 * `npm start` runs first). It holds no data of its own: everything it shows comes through
 * the agent API with the agent's token, like any other client. Its pages allow scripts,
 * styles and connections to this origin only, and may not be framed.
 */
export async function deskRoutes(app: FastifyInstance) {
  const built = existsSync(join(DESK_DIR, 'index.html'))
  app.addHook('onSend', async (_req, reply) => {
    reply.header('content-security-policy', "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
  })
  app.get('/desk', { schema: { hide: true } }, (_req, reply) => reply.redirect('/desk/'))
  if (!built) {
    app.get('/desk/*', { schema: { hide: true } }, (_req, reply) =>
      reply.code(503).type('text/plain').send('The desk has not been built: run `npm run build` (npm start does), then reload.')
    )
    return
  }
  // hashed asset names: cached for good; index.html always fetched afresh so a new build shows
  await app.register(fastifyStatic, {
    root: DESK_DIR,
    prefix: '/desk/',
    index: 'index.html',
    wildcard: true,
    cacheControl: false,
    setHeaders: (res, path) => res.setHeader('cache-control', path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable')
  })
}
