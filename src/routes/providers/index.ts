import type { FastifyInstance } from 'fastify'
import type { EmailDeps } from '../../channels/email/email-deps.js'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import { emailRoutes } from './email.js'
import { twilioRoutes } from './twilio-sms.js'
import { twilioVoiceRoutes } from './twilio-voice.js'

/**
 * Providers' webhooks: Twilio (texts and calls) and mail providers (raw mail). Each provider
 * proves itself its own way (Twilio's signature over the form, a mail provider's secret),
 * and answers in its own form (TwiML, JSON), so each is a context of its own under
 * /channels, with its own parser and error handler.
 */
export async function providersBoundary(app: FastifyInstance, opts: { intake: IntakeBatcher; mail: EmailDeps }) {
  const { intake, mail } = opts
  await app.register(twilioRoutes, { intake, prefix: '/channels/twilio' })
  await app.register(twilioVoiceRoutes, { intake, prefix: '/channels/twilio/voice' })
  await app.register(emailRoutes, { mail, prefix: '/channels/email' })
}
