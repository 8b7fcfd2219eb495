import type { Catalogue } from '../../catalogue/catalogue.js'
import type { Db } from '../../db/pool.js'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import { pendingSmsSurvey, ratingOf, recordAnswer, SMS_THANKS } from '../../feedback/csat.js'
import { keepRawInbound, openedByMessage } from '../../intake/intake.js'
import type { IntakePressure } from '../../lib/intake-pressure.js'
import type { Log } from '../../logger.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import type { Queues } from '../../jobs/queues.js'
import { queueMediaFetches } from '../../messaging/message-media.js'
import { isOptedOut, recordOptOut, smsKeyword } from '../../messaging/opt-outs.js'
import { renderTemplate, SMS_HELP_TEXT } from '../../messaging/templates.js'
import { addLocation, recordLocationAsked } from '../../routing/add-location.js'
import { chooseService } from '../../routing/place-case.js'
import { smsToInboundContact, type TwilioSmsBody } from './sms.js'

export interface SmsDeps {
  db: Db
  catalogue: Catalogue
  queues: Queues
  intake: IntakeBatcher
  /** contacts in hand, so that this process's routing holds back during a burst (workers/give-way.ts) */
  pressure: IntakePressure
  threadWindowHours: number
}

/**
 * What a text becomes once Twilio's signature is checked: a keyword (STOP, START, HELP)
 * recorded, or a contact taken in, its pictures fetched in the background, a postcode it
 * brings added to its open case, and a new case acknowledged. Answers what to text back,
 * or null for nothing.
 */
export async function receiveSms(deps: SmsDeps, body: TwilioSmsBody, log: Log): Promise<string | null> {
  const { db, catalogue, queues, intake } = deps
  const contact = smsToInboundContact(body, deps.threadWindowHours)
  const phone = contact.sender.phone
  const keyword = smsKeyword(contact.text, body.OptOutType)
  if (keyword) {
    // STOP, START and HELP are about messages, not reports: recorded, never a case
    await keepRawInbound(db, contact)
    if (phone && keyword !== 'HELP') await recordOptOut(db, phone, keyword)
    log.info({ keyword }, 'sms keyword received')
    // after STOP nothing goes back (Twilio confirms the opt-out itself)
    const help = keyword === 'HELP' && phone && !(await isOptedOut(db, phone))
    return help ? SMS_HELP_TEXT : null
  }

  // a rating, 1 to 5, from a number asked how we did: the answer, never a case
  const rating = phone ? ratingOf(contact.text) : null
  if (rating !== null && phone) {
    const caseId = await pendingSmsSurvey(db, phone)
    if (caseId !== null) {
      await keepRawInbound(db, contact)
      const done = await recordAnswer(db, caseId, rating, 'sms')
      log.info({ csat: done }, 'sms rating received')
      return (await isOptedOut(db, phone)) ? null : SMS_THANKS
    }
  }

  // (the opt-out is read alongside, not inside the intake statement: a lookup added to that
  // statement made intake ten times slower when measured; the cause is not found yet)
  const done = deps.pressure.begin()
  const [result, optedOut] = await Promise.all([intake.submit(contact), phone ? isOptedOut(db, phone) : Promise.resolve(true)]).finally(done)
  if (result.outbox) relayNow(queues, result.outbox, log)
  log.info({ caseReference: result.reference, replayed: result.replayed, opened: result.opened }, 'sms accepted')
  if (contact.media?.length && !result.replayed) {
    // the pictures themselves are fetched in the background; their URLs are stored already
    for (const row of await queueMediaFetches(db, contact.provider, contact.providerMessageId)) relayNow(queues, row, log)
  }
  const postcode = contact.location.postcode
  if (!result.opened && !result.replayed && postcode) {
    // a text on an open case with the postcode it lacked: placed again with it
    const again = await addLocation(db, result.caseId, postcode, 'intake:sms')
    if (again) relayNow(queues, again, log)
  }

  // The first answer to a new case acknowledges it with its reference, and asks for the
  // postcode when the case cannot be placed without one; a replay of that text gets the
  // same answer. No automatic text to a short code, an alphanumeric sender or a number
  // that said STOP.
  const acknowledge = !optedOut && (result.opened || (result.replayed && (await openedByMessage(db, result.caseId, contact.provider, contact.providerMessageId))))
  if (!acknowledge) return null
  const address = catalogue.inboundAddress('sms', contact.recipient)
  const values = { reference: result.reference }
  let text = renderTemplate(catalogue.template('sms_acknowledgement', address), values)
  if (!postcode && (!address?.councilGss || chooseService(catalogue, { requestedServiceCode: null, description: contact.text }).service.needsLocation)) {
    text += ` ${renderTemplate(catalogue.template('sms_ask_postcode', address), values)}`
    if (result.opened) await recordLocationAsked(db, result.caseId, 'intake:sms')
  }
  return text
}
