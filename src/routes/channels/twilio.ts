import formbody from '@fastify/formbody'
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { requireTwilioSignature } from '../../channels/twilio/signature.js'
import { smsToInboundContact, TwilioSmsBody, TwilioSmsStatusBody } from '../../channels/twilio/sms.js'
import { messagingTwiml } from '../../channels/twilio/twiml.js'
import { AppError, errorCatalogue, isTransientInfraError, type ErrorCode } from '../../errors.js'
import type { Infra } from '../../infra.js'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import { keepRawInbound, openedByMessage } from '../../intake/intake.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { isOptedOut, recordOptOut, smsKeyword } from '../../messaging/opt-outs.js'
import { queueMediaFetches } from '../../messaging/message-media.js'
import { applyStatusReport } from '../../messaging/outbound.js'
import { renderTemplate, SMS_HELP_TEXT } from '../../messaging/templates.js'
import { addLocation, recordLocationAsked } from '../../routing/add-location.js'
import { chooseService } from '../../routing/place-case.js'

const RETRY_AFTER_SECONDS = 5

/**
 * Twilio's webhooks (registered under /channels/twilio). Every answer is TwiML with
 * Content-Type text/xml, errors included: anything else (JSON, plain text) Twilio may text
 * to the resident. Requests are admitted by their signature, before their parameters are
 * even validated, and by nothing else: Twilio posts from many addresses, so the per-address
 * rate limits of the web channel do not apply here.
 */
export async function twilioRoutes(fastify: FastifyInstance, opts: { infra: Infra; intake: IntakeBatcher }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { infra, intake } = opts
  const { config, db, catalogue, queues } = infra
  const tokens = [config.TWILIO_AUTH_TOKEN, config.TWILIO_AUTH_TOKEN_SECONDARY].filter((t): t is string => Boolean(t))
  if (!tokens.length) infra.log.warn('TWILIO_AUTH_TOKEN is not set: every Twilio webhook will be refused (403)')

  // form bodies only, as Twilio sends them; JSON and the rest are 415
  app.removeAllContentTypeParsers()
  await app.register(formbody)

  const twiml = (reply: FastifyReply, status: number, body: string) => reply.code(status).type('text/xml; charset=utf-8').send(body)
  const refuse = (reply: FastifyReply, code: ErrorCode) => {
    const status = errorCatalogue[code].status
    if (status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    // an empty Response: nothing is texted back, whatever went wrong
    return twiml(reply, status, messagingTwiml())
  }
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof AppError) return refuse(reply, err.code)
    if (err.validation) return refuse(reply, 'validation_failed')
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return refuse(reply, 'unsupported_media_type')
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return refuse(reply, 'payload_too_large')
    if (isTransientInfraError(err)) {
      req.log.warn({ err }, 'dependency unavailable; answered 503')
      return refuse(reply, 'temporarily_unavailable')
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return twiml(reply, err.statusCode, messagingTwiml())
    req.log.error({ err }, 'unhandled error in a Twilio webhook')
    return refuse(reply, 'internal_error')
  })
  app.setNotFoundHandler((_req, reply) => refuse(reply, 'not_found'))

  const signed = requireTwilioSignature(config.PUBLIC_BASE_URL, tokens)

  app.post(
    '/sms',
    {
      // checked before the parameters are validated: an unsigned request learns nothing
      preValidation: signed,
      schema: {
        tags: ['sms channel'],
        summary: "Twilio's incoming-message webhook",
        description: 'Signed by Twilio (X-Twilio-Signature). Answers TwiML: an acknowledgement with the case reference for a new report, nothing otherwise.',
        body: TwilioSmsBody
      }
    },
    async (req, reply) => {
      const contact = smsToInboundContact(req.body, config.SMS_THREAD_WINDOW_HOURS)
      const phone = contact.sender.phone
      const keyword = smsKeyword(contact.text, req.body.OptOutType)
      if (keyword) {
        // STOP, START and HELP are about messages, not reports: recorded, never a case
        await keepRawInbound(db, contact)
        if (phone && keyword !== 'HELP') await recordOptOut(db, phone, keyword)
        req.log.info({ keyword }, 'sms keyword received')
        // after STOP nothing goes back (Twilio confirms the opt-out itself)
        const help = keyword === 'HELP' && phone && !(await isOptedOut(db, phone))
        return twiml(reply, 200, messagingTwiml(help ? SMS_HELP_TEXT : null))
      }

      // (the opt-out is read alongside, not inside the intake statement: a lookup added to that
      // statement made intake ten times slower when measured; the cause is not found yet)
      const done = infra.intakePressure.begin() // the workers of this process give way during a burst
      const [result, optedOut] = await Promise.all([intake.submit(contact), phone ? isOptedOut(db, phone) : Promise.resolve(true)]).finally(done)
      if (result.outbox) relayNow(queues, result.outbox, req.log)
      req.log.info({ caseReference: result.reference, replayed: result.replayed, opened: result.opened }, 'sms accepted')
      if (contact.media?.length && !result.replayed) {
        // the pictures themselves are fetched in the background; their URLs are stored already
        for (const row of await queueMediaFetches(db, contact.provider, contact.providerMessageId)) relayNow(queues, row, req.log)
      }
      const postcode = contact.location.postcode
      if (!result.opened && !result.replayed && postcode) {
        // a text on an open case with the postcode it lacked: placed again with it
        const again = await addLocation(db, result.caseId, postcode, 'intake:sms')
        if (again) relayNow(queues, again, req.log)
      }

      // The first answer to a new case acknowledges it with its reference, and asks for the
      // postcode when the case cannot be placed without one; a replay of that text gets the
      // same answer. No automatic text to a short code, an alphanumeric sender or a number
      // that said STOP.
      const acknowledge = !optedOut && (result.opened || (result.replayed && (await openedByMessage(db, result.caseId, contact.provider, contact.providerMessageId))))
      if (!acknowledge) return twiml(reply, 200, messagingTwiml())
      const address = catalogue.inboundAddress('sms', contact.recipient)
      const values = { reference: result.reference }
      let text = renderTemplate(catalogue.template('sms_acknowledgement', address), values)
      if (!postcode && (!address?.councilGss || chooseService(catalogue, { requestedServiceCode: null, description: contact.text }).service.needsLocation)) {
        text += ` ${renderTemplate(catalogue.template('sms_ask_postcode', address), values)}`
        if (result.opened) await recordLocationAsked(db, result.caseId, 'intake:sms')
      }
      return twiml(reply, 200, messagingTwiml(text))
    }
  )

  app.post(
    '/sms/status',
    {
      preValidation: signed,
      schema: {
        tags: ['sms channel'],
        summary: "Twilio's status callback for a text we sent",
        description: 'Signed by Twilio. A status only ever moves a message forward: a late "sent" does not undo "delivered".',
        body: TwilioSmsStatusBody
      }
    },
    async (req, reply) => {
      const detail = req.body.ErrorCode ? `Twilio error ${req.body.ErrorCode}` : null
      const moved = await applyStatusReport(db, 'twilio', req.body.MessageSid, req.body.MessageStatus.toLowerCase(), detail)
      req.log.debug({ status: req.body.MessageStatus, moved }, 'sms status report')
      return twiml(reply, 200, messagingTwiml())
    }
  )
}
