import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { agentSessions } from './agents/sessions.js'
import { emailDeps } from './channels/email/email-deps.js'
import { parseTrustProxy } from './config.js'
import type { Infra } from './infra.js'
import { IntakeBatcher } from './intake/intake-batcher.js'
import { validatorCompiler } from './lib/validator-compiler.js'
import { wellFormedJsonParser } from './lib/well-formed-json.js'
import { errorHandler } from './plugins/error-handler.js'
import { infraDecorators } from './plugins/infra.js'
import { rateLimits } from './plugins/rate-limits.js'
import { agentsBoundary } from './routes/agents/index.js'
import { councilsBoundary } from './routes/councils/index.js'
import { deskRoutes } from './routes/desk.js'
import { frameworkErrors } from './routes/framework-errors.js'
import { healthRoutes } from './routes/health.js'
import { operatorsBoundary } from './routes/operators/index.js'
import { providersBoundary } from './routes/providers/index.js'
import { residentsBoundary } from './routes/residents/index.js'
import { LiveHub } from './realtime/hub.js'

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/

/**
 * Node's own limits on a client that trickles its headers or body in. Node measures both
 * from the request's first byte, but only looks every `connectionsCheckingInterval` (30 s
 * by default), and its headers limit defaults to 60 s whatever `requestTimeout` says: a
 * trickled request was cut at 36 s (headers) and 66 s (body), not within the 10 s the README
 * promises. So headers get the same limit as the whole request, and the check runs often
 * enough to act within a tenth of it (at least every second). Such a client is answered 408.
 */
function slowClientLimits(timeoutMs: number) {
  return { requestTimeout: timeoutMs, headersTimeout: timeoutMs, connectionsCheckingInterval: Math.min(1_000, Math.ceil(timeoutMs / 10)) }
}

/**
 * Builds the HTTP app: external plugins, then ours, then routes, each access boundary in
 * its own context. The server only listens (src/main.ts); tests use app.inject().
 */
export async function buildApp(infra: Infra) {
  const app = Fastify({
    loggerInstance: infra.log,
    bodyLimit: infra.config.BODY_LIMIT_BYTES,
    // a caller's X-Request-Id is kept when it is a plain token, so logs can be joined up
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    requestIdHeader: false,
    // a path the router cannot read is a 400 naming it, in our shape
    frameworkErrors,
    // A client that trickles its request in is cut off after REQUEST_TIMEOUT_MS. What the
    // service does with a request is bounded on its own terms: a contact waits at most
    // INTAKE_MAX_WAIT_MS in line, every query at most the pool's connection timeout plus
    // Postgres's statement and lock timeouts, Redis calls have deadlines. (Fastify's
    // handlerTimeout would add a backstop, but it builds an AbortController, and on every
    // request a DOMException, which cost about 5 % of intake's CPU when measured.)
    requestTimeout: infra.config.REQUEST_TIMEOUT_MS,
    http: slowClientLimits(infra.config.REQUEST_TIMEOUT_MS),
    // X-Forwarded-For is believed only from the proxies TRUST_PROXY names (none by default):
    // anyone can send it, and the rate limits count by client address
    trustProxy: parseTrustProxy(infra.config.TRUST_PROXY)
  })
  // bodies are validated strictly, querystrings, params and headers with type coercion
  app.setValidatorCompiler(validatorCompiler)
  // JSON as Fastify parses it (prototype poisoning refused), and refused (400, naming the
  // field) where a string is not Unicode
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, wellFormedJsonParser(app.getDefaultJsonParser('error', 'error')))
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id)
  })

  await app.register(swagger, {
    // shared schemas (app.addSchema) appear under their own $id in components.schemas, e.g.
    // SubjectAccessExport, so integrators can find them by name
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      info: {
        title: 'Switchboard',
        version: '0.1.0',
        description: 'Citizen-contact CRM for councils that share services: web intake, routing to the right council, delivery to back offices.'
      },
      servers: [{ url: infra.config.PUBLIC_BASE_URL }],
      components: {
        securitySchemes: {
          operatorKey: { type: 'http', scheme: 'bearer', description: 'OPERATOR_API_KEY' },
          councilKey: { type: 'http', scheme: 'bearer', description: 'a council (or partnership) API key, sbk_…, made with `npm run cli -- api-key create`' },
          agentToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: "an agent's token from POST /v1/auth/login" }
        }
      }
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await app.register(errorHandler)
  // what the process holds, as app.db, app.queues, app.catalogue, app.config…, for every route
  await app.register(infraDecorators, { infra })
  await app.register(rateLimits)

  await app.register(healthRoutes)
  // one per process, shared by every channel that takes in contacts: at most half the pool
  // stores contacts at once, leaving the rest for reads
  const intake = new IntakeBatcher(infra.db, {
    maxInFlight: Math.max(1, Math.floor(infra.config.DATABASE_POOL_SIZE / 2)),
    maxBatch: 32,
    maxWaiting: infra.config.INTAKE_QUEUE_LIMIT,
    maxWaitMs: infra.config.INTAKE_MAX_WAIT_MS
  })
  // one too for the mail webhook and the quarantine's release (the SMTP listener makes its own)
  const mail = emailDeps(infra)
  // each caller behind its own door (src/routes/<boundary>/index.ts): residents, providers'
  // webhooks, council systems, operators, agents
  await app.register(residentsBoundary, { intake })
  await app.register(providersBoundary, { intake, mail })
  await app.register(councilsBoundary, { intake })
  await app.register(operatorsBoundary, { mail })

  // contact-centre agents: short-lived tokens of active agents, and the live view fed through Redis
  const tokens = agentSessions(infra)
  const hub = new LiveHub({ db: infra.db, redis: infra.redis, databaseUrl: infra.config.DATABASE_URL, prefix: infra.config.QUEUE_PREFIX, log: infra.log.child({ component: 'live' }) })
  // Postgres announces each change to an agent's account: forget it at once, not after AGENT_REVOCATION_S
  hub.on('agent-changed', (agentId: number) => tokens.forget(agentId))
  await hub.start()
  app.addHook('onClose', async () => hub.close())
  await app.register(agentsBoundary, { tokens, hub })
  // the agents' desk: a web page on the agent API above
  await app.register(deskRoutes)
  return app
}
