import type { FastifyInstance, FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { ApiKeyGrant } from '../../councils/api-keys.js'
import { targetPolicy, webhookUrlRefusal } from '../../delivery/destination-policy.js'
import { AppError } from '../../errors.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { Id, IntegerBetween, Nullable, SingleLine, StringEnum, Timestamp } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'
import { requireScope } from '../../plugins/api-key-auth.js'
import { createSubscription, deleteSubscription, listDeadLetters, listSubscriptions, replayEvent, WEBHOOK_EVENT_TYPES } from '../../webhooks/subscriptions.js'

const GSS = Type.String({ pattern: '^[EWSN][0-9]{8}$', description: "The council's GSS code", examples: ['E09000033'] })
const EventType = StringEnum(WEBHOOK_EVENT_TYPES)

const Subscription = Type.Object({
  id: Type.Integer(),
  url: Type.String(),
  events: Type.Array(EventType),
  council: Type.String(),
  created_at: Timestamp
})
const Created = Type.Object({
  ...Subscription.properties,
  secret: Type.String({
    description: 'Shown only in this answer. Standard Webhooks format (whsec_ + base64): verify webhook-signature with any Standard Webhooks library, or x-switchboard-signature (hex HMAC-SHA256 over `timestamp.body` keyed with this whole string)',
    examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']
  })
})
const DeadLetter = Type.Object({
  event_id: Type.String({ format: 'uuid' }),
  subscription_id: Type.Integer(),
  type: EventType,
  case_reference: Type.String(),
  attempts: Type.Integer(),
  last_status: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
  created_at: Timestamp
})
const Replayed = Type.Object({ event_id: Type.String({ format: 'uuid' }), state: Type.Literal('pending') })

const KEY_HELP = 'Send the council (or partnership) API key as `Authorization: Bearer sbk_…`.'

/**
 * Council webhook subscriptions: a council's system hears of its cases' events, signed, and
 * can list and replay what failed. A key acts only for its own council (a partnership key
 * for its members); anything else is 404, so nobody learns what another council has.
 */
export async function webhookRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, queues, config } = app
  const policy = targetPolicy(config)
  const maxPerCouncil = config.WEBHOOK_MAX_SUBSCRIPTIONS_PER_COUNCIL
  // the key (identified once for the context, councilsBoundary) before anything else, so a
  // caller without one learns nothing; then its own rate limit
  const keyed = (scope: 'read' | 'write') => ({ onRequest: [requireScope(db, scope), ...app.requestLimits.apiKey] })
  const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody, 503: ErrorBody }
  const tags = ['webhooks']

  app.post(
    '/v1/webhooks',
    {
      ...keyed('write'),
      schema: {
        tags,
        summary: "Subscribe a URL to the council's case events",
        description:
          `${KEY_HELP} Needs the write scope. Each event is POSTed as JSON ({id, type, created_at, data: {case, event}}), signed with the ` +
          'Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature) and with x-switchboard-timestamp / x-switchboard-signature as case deliveries are. ' +
          'Any answer other than 2xx is retried with exponential backoff; after the last attempt the event is dead-lettered (GET /v1/webhooks/dead-letters) and can be replayed. ' +
          'The URL must be https (plain http only to a loopback host, outside production), without a user name or password, and reach a public address: ' +
          'one that is private, loopback, link-local or otherwise not on the public internet is refused here when the URL gives it, and at every connection when its name resolves to it ' +
          '(the dead letter then reads "refused: the address is not public"), unless the operator allows its range. ' +
          `A council may have ${maxPerCouncil} subscriptions (409 webhook_subscription_limit beyond that); a partnership key names the member council, and counts against that council's limit.`,
        body: Type.Object(
          {
            url: SingleLine({ minLength: 1, maxLength: 2048, examples: ['https://backoffice.example.gov.uk/hooks/switchboard'] }),
            events: Type.Array(EventType, { minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length, uniqueItems: true, examples: [['case.routed', 'case.updated']] }),
            council: Type.Optional(GSS)
          },
          { additionalProperties: false }
        ),
        response: { 201: Created, 409: ErrorBody, 422: ErrorBody, ...errors }
      }
    },
    async (req, reply) => {
      const council = councilFor(grantOf(req), req.body.council)
      // the URL is never logged nor echoed in the refusal: it may carry a password or a token
      const refusal = webhookUrlRefusal(req.body.url, policy)
      if (refusal) throw new AppError('webhook_url_refused', { field: 'url', message: refusal.replace(/^webhook_url/, 'url') })
      const created = await createSubscription(db, { council, url: req.body.url, events: req.body.events }, maxPerCouncil)
      if (!created) {
        throw new AppError('webhook_subscription_limit', {
          message: `Council ${council} has ${maxPerCouncil} webhook subscriptions, the most allowed; delete one (DELETE /v1/webhooks/{id}) before adding another`
        })
      }
      req.log.info({ subscriptionId: created.id, council, events: created.events }, 'webhook subscription created')
      return reply.code(201).send(created)
    }
  )

  app.get(
    '/v1/webhooks',
    {
      ...keyed('read'),
      schema: { tags, summary: "The council's webhook subscriptions (without their secrets)", description: `${KEY_HELP} Needs the read scope.`, response: { 200: Type.Array(Subscription), ...errors } }
    },
    async (req) => listSubscriptions(db, grantOf(req).councils)
  )

  app.get(
    '/v1/webhooks/dead-letters',
    {
      ...keyed('read'),
      schema: {
        tags,
        summary: "Events the council's receivers never accepted, newest first",
        description:
          `${KEY_HELP} Needs the read scope. last_status is the receiver's HTTP status, if it answered; last_error says why in a few words: ` +
          '"HTTP 503", "timed out", "connection refused", "connection reset", "the name could not be resolved", "network unreachable", ' +
          '"TLS failed: the certificate was not accepted", "refused: the address is not public", "request failed", or "not sent: " and why. ' +
          'Replay one with POST /v1/webhooks/events/{event_id}/replay.',
        querystring: Type.Object({ limit: Type.Optional(IntegerBetween(1, 500, { default: 100 })) }),
        response: { 200: Type.Array(DeadLetter), ...errors }
      }
    },
    async (req) => listDeadLetters(db, grantOf(req).councils, req.query.limit ?? 100)
  )

  app.delete(
    '/v1/webhooks/:id',
    {
      ...keyed('write'),
      schema: {
        tags,
        summary: 'Delete a subscription; events not yet sent to it are dropped',
        description: `${KEY_HELP} Needs the write scope.`,
        params: Type.Object({ id: Id() }),
        response: { 204: Type.Null(), ...errors }
      }
    },
    async (req, reply) => {
      if (!(await deleteSubscription(db, req.params.id, grantOf(req).councils))) throw new AppError('not_found', { message: 'No webhook subscription with this id' })
      req.log.info({ subscriptionId: req.params.id }, 'webhook subscription deleted')
      return reply.code(204).send(null)
    }
  )

  app.post(
    '/v1/webhooks/events/:event_id/replay',
    {
      ...keyed('write'),
      schema: {
        tags,
        summary: 'Send a dead-lettered (or delivered) event again',
        description: `${KEY_HELP} Needs the write scope. The event keeps its id (webhook-id), gets a fresh set of attempts and is signed afresh. An event still pending is already on its way: nothing changes.`,
        params: Type.Object({ event_id: Type.String({ format: 'uuid' }) }),
        response: { 202: Replayed, ...errors }
      }
    },
    async (req, reply) => {
      const replayed = await replayEvent(db, req.params.event_id, grantOf(req).councils)
      if (!replayed.found) throw new AppError('not_found', { message: 'No webhook event with this id' })
      if (replayed.outbox) relayNow(queues, replayed.outbox, req.log)
      req.log.info({ eventId: req.params.event_id }, 'webhook event replayed')
      return reply.code(202).send({ event_id: req.params.event_id, state: 'pending' as const })
    }
  )
}

/** Set by identifyApiKey and admitted by requireScope, which every route here runs first. */
function grantOf(req: FastifyRequest): ApiKeyGrant {
  if (!req.apiKey) throw new AppError('unauthorized')
  return req.apiKey
}

/**
 * The council a new subscription is for: a council key's own (naming it is optional), or
 * the member a partnership key names. A council the key is not for gets the same answer
 * whether it exists or not.
 */
function councilFor(grant: ApiKeyGrant, named: string | undefined): string {
  if (!named) {
    if (grant.councilGss) return grant.councilGss
    throw new AppError('validation_failed', { field: 'council', message: 'council is required with a partnership key: give the GSS code of a member council' })
  }
  if (!grant.councils.includes(named)) throw new AppError('unknown_council', { field: 'council', message: 'This key is not for a council with this GSS code' })
  return named
}
