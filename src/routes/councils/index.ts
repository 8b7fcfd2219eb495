import type { FastifyInstance } from 'fastify'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import { identifyApiKey } from '../../plugins/api-key-auth.js'
import { caseRoutes } from './cases.js'
import { open311Routes } from './open311/index.js'
import { webhookRoutes } from './webhooks.js'

/**
 * Council systems, each with a key of its own: the case API, webhook subscriptions, Open311.
 * The case API and webhooks share one context whose hook finds the key once, before anything
 * else; each route then names the scope it needs (read or write). Open311 is a context of its
 * own: a key may come in its form body, which is not read yet when the request arrives, it
 * may be left out for the public's view, and its refusals are Open311's (open311Access).
 */
export async function councilsBoundary(app: FastifyInstance, opts: { intake: IntakeBatcher }) {
  await app.register(async (keyed) => {
    keyed.addHook('onRequest', identifyApiKey(keyed.db))
    await keyed.register(caseRoutes)
    await keyed.register(webhookRoutes)
  })
  await app.register(open311Routes, { intake: opts.intake, prefix: '/open311/v2' })
}
