import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyError, FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { OurRecipient } from '../../channels/email/mailboxes.js'
import type { EmailDeps } from '../../channels/email/email-deps.js'
import { receiveEmail } from '../../channels/email/receive-email.js'
import { AppError } from '../../errors.js'
import { ErrorBody } from '../../plugins/error-handler.js'

/** EMAIL_INBOUND_SECRETS ("name:secret,…") as name → SHA-256 of the secret. */
function inboundSecrets(value: string | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  for (const pair of (value ?? '').split(',').filter(Boolean)) {
    const colon = pair.indexOf(':')
    out.set(pair.slice(0, colon), createHash('sha256').update(pair.slice(colon + 1)).digest())
  }
  return out
}

/**
 * The addresses a provider says the message was for: `?to=` (comma-separated), else its
 * X-Original-To / Delivered-To / To / Cc headers. Read by hand from the header block only to
 * learn which of our mailboxes it is for; the message itself is parsed once, by mailparser,
 * in intake.
 */
function addressesFor(raw: Buffer, to: string | undefined): string[] {
  if (to) return to.split(',').map((a) => a.trim()).filter(Boolean)
  const head = raw.subarray(0, Math.min(raw.length, 65_536)).toString('latin1')
  const end = head.search(/\r?\n\r?\n/)
  const unfolded = (end >= 0 ? head.slice(0, end) : head).replace(/\r?\n[ \t]+/g, ' ')
  const out: string[] = []
  for (const line of unfolded.split(/\r?\n/)) {
    if (!/^(x-original-to|delivered-to|to|cc):/i.test(line)) continue
    for (const m of line.matchAll(/[A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+/g)) out.push(m[0])
  }
  return out
}

/**
 * POST /channels/email/inbound: raw mail (message/rfc822) posted by a mail provider's
 * inbound webhook, each provider with a secret of its own (`Authorization: Bearer …`). The
 * same intake as our SMTP listener: answered 200 only once the message is committed, 503
 * with Retry-After when it cannot be, so the provider retries.
 */
export async function emailRoutes(fastify: FastifyInstance, opts: { mail: EmailDeps }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { config, db } = app
  const deps = opts.mail
  const secrets = inboundSecrets(config.EMAIL_INBOUND_SECRETS)
  if (!secrets.size) app.log.info('EMAIL_INBOUND_SECRETS is not set: POST /channels/email/inbound refuses every request (401)')

  app.removeAllContentTypeParsers()
  // too big: 413 from Fastify while reading, before anything is parsed
  app.addContentTypeParser('message/rfc822', { parseAs: 'buffer', bodyLimit: config.EMAIL_MAX_BYTES }, (_req, body, done) => done(null, body))
  app.setErrorHandler((err: FastifyError) => {
    // the app's handler answers; only the advice for a wrong Content-Type differs here
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') throw new AppError('unsupported_media_type', { field: 'content-type', message: 'Send the raw message as message/rfc822' })
    throw err
  })

  app.post(
    '/inbound',
    {
      schema: {
        summary: 'Take in one raw email from a mail provider',
        tags: ['channels'],
        headers: Type.Object({ authorization: Type.Optional(Type.String()) }),
        querystring: Type.Object({ to: Type.Optional(Type.String({ maxLength: 2_000 })) }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            outcome: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('quarantined')]),
            reference: Type.Optional(Type.Union([Type.String(), Type.Null()]))
          }),
          401: ErrorBody,
          413: ErrorBody,
          415: ErrorBody,
          422: ErrorBody,
          503: ErrorBody
        }
      },
      onRequest: async (req) => {
        const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
        const digest = given ? createHash('sha256').update(given).digest() : null
        const source = digest ? [...secrets].find(([, secret]) => timingSafeEqual(secret, digest))?.[0] : undefined
        if (!source) throw new AppError('unauthorized', { message: 'A valid inbound mail secret is required (Authorization: Bearer …)' })
        req.emailSource = source
      }
    },
    async (req) => {
      // a POST with no body and no Content-Type reaches here unparsed
      if (!Buffer.isBuffer(req.body)) throw new AppError('unsupported_media_type', { field: 'content-type', message: 'Send the raw message as message/rfc822' })
      const raw = req.body
      const recipients: OurRecipient[] = []
      for (const address of addressesFor(raw, req.query.to)) {
        const ours = deps.mailboxes.recognise(address)
        // a reply address counts only while its case exists, as at the SMTP listener
        if (ours && (ours.kind === 'mailbox' || (await deps.mailboxes.replyTokenKnown(db, ours.token)))) recipients.push(ours)
      }
      if (!recipients.length) throw new AppError('unknown_recipient')
      const done = deps.pressure.begin()
      // no connecting address to check SPF against: the sender passes only with an aligned DKIM signature
      const result = await receiveEmail(deps, { raw, source: `http:${req.emailSource}`, envelopeFrom: null, recipients, client: null }).finally(done)
      return { outcome: result.outcome, reference: result.outcome === 'quarantined' ? null : result.reference }
    }
  )
}

declare module 'fastify' {
  interface FastifyRequest {
    emailSource?: string
  }
}
