import type { Catalogue } from '../../catalogue/catalogue.js'
import type { Db } from '../../db/pool.js'
import type { InboundContact } from '../../intake/inbound-contact.js'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import type { IntakeResult } from '../../intake/intake.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import type { Queues } from '../../jobs/queues.js'
import type { Log } from '../../logger.js'
import { queueText } from '../../messaging/outbound.js'
import { renderTemplate } from '../../messaging/templates.js'
import { saveRecordingHalf } from './call-recordings.js'
import { callerPhone, hasRecording, VOICEMAIL_PENDING, type CallState, type TwilioVoiceBody } from './voice.js'

export interface CallDeps {
  db: Db
  catalogue: Catalogue
  queues: Queues
  intake: IntakeBatcher
  log: Log
}

/** Opens the call's case (or finds it: the CallSid is its provider message id). */
export async function openCallCase(deps: CallDeps, body: TwilioVoiceBody, state: CallState, text: string, recordingUrl: string | null): Promise<IntakeResult> {
  const { catalogue } = deps
  const phone = callerPhone(body.From)
  const contact: InboundContact = {
    channel: 'voice',
    provider: 'twilio',
    providerMessageId: body.CallSid,
    rawPayload: body,
    // the CallSid is Twilio's own: one call, one case, whichever callback comes first
    payloadHash: null,
    // a number the network gave is proven (Twilio signed it); a withheld one is an unknown caller
    sender: { name: null, email: null, phone, raw: body.From, ...(phone ? { verified: { phone: true } } : {}) },
    recipient: body.To.trim(),
    text,
    location: { postcode: null, lat: null, lng: null },
    serviceCode: state.service && catalogue.services.has(state.service) ? state.service : null,
    councilGss: state.council && catalogue.councils.has(state.council) ? state.council : null,
    threadReference: null,
    media: recordingUrl ? [{ url: recordingUrl, contentType: 'audio/wav' }] : []
  }
  const result = await deps.intake.submit(contact)
  if (result.outbox) relayNow(deps.queues, result.outbox, deps.log)
  return result
}

/** The recording, from the Record action or the recording status callback: both store it. */
export async function storeRecording(deps: CallDeps, body: TwilioVoiceBody, state: CallState): Promise<IntakeResult | null> {
  if (!hasRecording(body)) return null
  const url = body.RecordingUrl!
  const result = await openCallCase(deps, body, state, VOICEMAIL_PENDING, url)
  await saveRecordingHalf(deps.db, { recordingSid: body.RecordingSid!, callSid: body.CallSid, url, durationSecs: Number(body.RecordingDuration) })
  if (result.opened) await acknowledgeByText(deps, body, result)
  return result
}

/**
 * A voicemail's acknowledgement cannot ride on a webhook's answer: it goes by text through
 * the message:send queue, to a caller whose number the network gave, from the called number
 * when it also takes texts (so a reply joins the case), with the same template as a text's.
 */
async function acknowledgeByText(deps: CallDeps, body: TwilioVoiceBody, result: { caseId: number; reference: string }): Promise<void> {
  const { catalogue } = deps
  const phone = callerPhone(body.From)
  const smsAddress = catalogue.inboundAddress('sms', body.To.trim())
  if (!phone || !smsAddress) return
  const text = renderTemplate(catalogue.template('sms_acknowledgement', smsAddress), { reference: result.reference })
  const row = await queueText(deps.db, { caseId: result.caseId, to: phone, from: smsAddress.address, body: text, author: 'intake:voice', why: 'The voicemail is acknowledged by text with its reference' })
  relayNow(deps.queues, row, deps.log)
}
