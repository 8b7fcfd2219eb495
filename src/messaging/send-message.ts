import { UnrecoverableError } from 'bullmq'
import type { Transporter } from 'nodemailer'
import type { Db } from '../db/pool.js'
import type { Log } from '../logger.js'
import { withoutBidiControls } from '../lib/bidi.js'
import { sendEmail } from './email-outbound.js'
import { isOptedOut } from './opt-outs.js'
import { ProviderRefusal, type SmsSender } from './sms-sender.js'
import { markSendDone, pendingMessage, settleMessage, type PendingMessage } from './outbound.js'

export interface SendDeps {
  db: Db
  /** null: no Twilio account configured */
  sms: SmsSender | null
  /** where Twilio reports delivery: PUBLIC_BASE_URL + /channels/twilio/sms/status */
  smsStatusCallback: string
  /** the relay for mail to residents (the demo transport when SMTP_URL is unset) */
  mail: Transporter
  /** our reply addresses are reply+<token>@ this */
  emailDomain: string
  log: Log
}

export type SendOutcome = 'sent' | 'blocked' | 'failed' | 'already_settled'

/**
 * One attempt to send a queued message to a resident. Every outbound path goes through
 * here, so this is where an opt-out is honoured: a number whose latest word was STOP gets
 * nothing, the message is recorded 'blocked'. A refusal Twilio will repeat (a 4xx: a bad
 * number, a number opted out at Twilio) settles the message as failed; anything else is
 * thrown for BullMQ to retry, and the last attempt settles it as failed. A message is sent
 * at least once: a crash between Twilio's acceptance and our record of it sends it again.
 */
export async function sendMessage(deps: SendDeps, job: { messageId: number; outboxId: number }, lastAttempt: boolean): Promise<SendOutcome> {
  const m = await pendingMessage(deps.db, job.messageId)
  if (!m) {
    await markSendDone(deps.db, job.outboxId)
    return 'already_settled'
  }
  const ids = { id: m.id, caseId: m.case_id, outboxId: job.outboxId }
  if (m.channel === 'email' && m.recipient && m.sender && m.provider_message_id) return sendEmailMessage(deps, ids, { ...m, recipient: m.recipient, sender: m.sender, provider_message_id: m.provider_message_id }, lastAttempt)
  if (m.channel !== 'sms' || !m.recipient || !m.sender) {
    await settleMessage(deps.db, ids, { status: 'failed', detail: `no way to send a ${m.channel} message`, event: 'message.failed', reason: `not sent: no transport for ${m.channel}` })
    return 'failed'
  }
  if (await isOptedOut(deps.db, m.recipient)) {
    await settleMessage(deps.db, ids, { status: 'blocked', detail: 'the number has opted out (STOP)', event: 'message.blocked', reason: 'not sent: the resident texted STOP to stop messages' })
    deps.log.info({ messageId: m.id }, 'message not sent: the number has opted out')
    return 'blocked'
  }
  if (!deps.sms) {
    await settleMessage(deps.db, ids, { status: 'failed', detail: 'no Twilio account configured (TWILIO_ACCOUNT_SID)', event: 'message.failed', reason: 'not sent: no Twilio account is configured' })
    return 'failed'
  }
  try {
    const sent = await deps.sms.send({ to: m.recipient, from: m.sender, body: withoutBidiControls(m.body), statusCallback: deps.smsStatusCallback })
    await settleMessage(deps.db, ids, { status: sent.status, providerMessageId: sent.sid, event: 'message.sent', reason: 'Handed to Twilio to send by SMS' })
    deps.log.info({ messageId: m.id, status: sent.status }, 'message handed to Twilio')
    return 'sent'
  } catch (err) {
    const api = err instanceof ProviderRefusal ? err : null
    const permanent = api !== null && api.status >= 400 && api.status < 500 && api.status !== 429
    if (permanent || lastAttempt) {
      const detail = api ? `Twilio ${api.status}${api.code ? ` (error ${api.code})` : ''}: ${api.message}` : `request failed: ${(err as Error).message}`
      await settleMessage(deps.db, ids, { status: 'failed', detail, event: 'message.failed', reason: `not sent: ${detail}` })
      deps.log.warn({ messageId: m.id, status: api?.status, code: api?.code }, 'message could not be sent')
      throw new UnrecoverableError(`message ${m.id} failed: ${detail}`)
    }
    throw err
  }
}

/** The mail half of sendMessage: the message's own headers, the case's reply address. */
async function sendEmailMessage(
  deps: SendDeps,
  ids: { id: number; caseId: number; outboxId: number },
  m: PendingMessage & { sender: string; recipient: string; provider_message_id: string },
  lastAttempt: boolean
): Promise<SendOutcome> {
  const result = await sendEmail(deps.mail, {
    id: ids.id,
    from: m.sender,
    to: m.recipient,
    subject: m.subject ?? `Your report ${m.reference}`,
    body: m.body,
    messageId: m.provider_message_id,
    replyTo: m.reply_token ? `reply+${m.reply_token}@${deps.emailDomain}` : null,
    thread: m.thread_headers ?? { inReplyTo: null, references: [], automatic: false },
    caseReference: m.reference
  })
  if (result.ok) {
    const reason = result.status === 'kept' ? 'Email built but not sent: no mail relay is configured (SMTP_URL)' : 'Handed to the mail relay'
    await settleMessage(deps.db, ids, { status: result.status, detail: result.detail, event: result.status === 'kept' ? 'message.kept' : 'message.sent', reason })
    deps.log.info({ messageId: ids.id, status: result.status }, 'email handed over')
    return 'sent'
  }
  if (result.permanent || lastAttempt) {
    await settleMessage(deps.db, ids, { status: 'failed', detail: result.detail, event: 'message.failed', reason: `not sent: ${result.detail}` })
    deps.log.warn({ messageId: ids.id }, 'email could not be sent')
    throw new UnrecoverableError(`message ${ids.id} failed: ${result.detail}`)
  }
  throw new Error(result.detail)
}
