import { createHash } from 'node:crypto'
import { isFinished, UPDATE_STATUSES, type UpdateStatus } from '../cases/council-updates.js'
import type { ApiKeyGrant } from '../councils/api-keys.js'
import { withTransaction, type Db } from '../db/pool.js'
import type { InboundContact } from '../intake/inbound-contact.js'
import { intakeContact } from '../intake/intake.js'
import { normaliseEmail } from '../lib/contact-points.js'
import { Open311Error } from './format.js'
import { kept } from './inbound.js'
import type { PostUpdateBody } from './schemas.js'

/**
 * A comment from the public on a request, as a client such as FixMyStreet posts it to
 * `POST servicerequestupdates`. In mySociety's extension a client's update is the public's,
 * never the council's: its status is the commenter's view of the problem.
 */
export interface PublicUpdate {
  /** the client's id for the comment: unique per client (key) and request, not per server */
  updateId: string
  status: UpdateStatus
  /** the commenter's words, with LF line ends */
  description: string
  updatedAt: Date
  body: PostUpdateBody
}

const text = (v: string | undefined) => v?.trim() || null

/** Reads the form; a 400 for what no comment can be. */
export function readPublicUpdate(body: PostUpdateBody): PublicUpdate {
  // FixMyStreet's extended updates send its comment id as update_id_ext, without update_id
  const updateId = text(body.update_id) ?? text(body.update_id_ext)
  if (!updateId) throw new Open311Error(400, 'update_id is required')
  const status = body.status.trim().toLowerCase() as UpdateStatus
  if (!UPDATE_STATUSES.includes(status)) throw new Open311Error(400, `status must be one of ${UPDATE_STATUSES.map((s) => s.toUpperCase()).join(', ')}`)
  // an email that does not parse is kept as written (publicUpdateContact), never a refusal
  return { updateId, status, description: kept(body.description.replace(/\r\n?/g, '\n').trim()), updatedAt: new Date(body.updated_datetime), body }
}

/**
 * The comment as the contact every channel hands to intake: a message on the request's case
 * from the person named (their email a claim, which links and grants nothing), so it is
 * stored, shown to agents and fanned out to the council's webhooks (message.created) as
 * any resident's follow-up is. Its id is the client's (the key's) and the case's, so the
 * same comment posted again is a replay, and the same update_id on another case is another.
 */
export function publicUpdateContact(u: PublicUpdate, caseId: number, jurisdiction: string, key: ApiKeyGrant): InboundContact {
  const { api_key: _key, ...payload } = u.body
  const typedEmail = text(u.body.email)
  const email = typedEmail ? normaliseEmail(typedEmail) : null
  // FixMyStreet sends '-' for a last name it does not have
  const name = [text(u.body.first_name), text(u.body.last_name)].filter((n) => n && n !== '-').join(' ') || null
  const media = text(u.body.media_url)
  const lines = [
    u.description,
    media ? `Photo: ${media}` : null,
    typedEmail && !email ? `Email as given (not checked): ${typedEmail.slice(0, 254)}` : null,
    // plain comments come as OPEN; any other status is worth an agent's notice
    u.status === 'open' ? null : `Status sent with this comment: ${u.status.replaceAll('_', ' ')}`
  ].filter((l): l is string => Boolean(l))
  return {
    channel: 'open311',
    provider: `open311:${key.id}`,
    providerMessageId: `servicerequestupdate:${caseId}:${u.updateId}`,
    rawPayload: payload,
    payloadHash: createHash('sha256').update(JSON.stringify(payload)).digest('hex'),
    sender: { name, email, phone: null, raw: email ?? typedEmail ?? name, verified: { email: false, phone: false } },
    recipient: null,
    text: lines.join('\n'),
    location: { postcode: null, lat: null, lng: null },
    serviceCode: null,
    councilGss: jurisdiction,
    threadReference: null,
    threadCase: { caseId, how: 'open311 update' }
  }
}

export interface RecordedPublicUpdate {
  /** false when this key had already posted this update_id on this case: nothing changed */
  recorded: boolean
}

/**
 * Stores a comment from the public in one transaction: the message through intake, then the
 * update row (author 'public', its status the commenter's, pointing at the message). Never
 * the case's status, back-office status or notes, never a resolution, and nothing is sent to
 * the resident. A replay changes nothing; one whose update row is missing gets it.
 */
export async function recordPublicUpdate(db: Db, caseId: number, u: PublicUpdate, jurisdiction: string, key: ApiKeyGrant): Promise<RecordedPublicUpdate> {
  const contact = publicUpdateContact(u, caseId, jurisdiction, key)
  return withTransaction(db, async (client) => {
    // A resident's message reopens a case the contact centre had resolved
    // (src/cases/sql/reopen-on-resident-message.sql); a comment saying the problem is fixed
    // or closed must not, so it asks the trigger, for this transaction, to keep it resolved
    if (isFinished(u.status)) await client.query(`select set_config('switchboard.message_keeps_resolved', 'on', true)`)
    await intakeContact(client, contact)
    await client.query(`select set_config('switchboard.message_keeps_resolved', '', true)`)
    const inserted = await client.query(
      `insert into case_updates (case_id, update_id, status, description, for_resident, source, author, message_id, updated_at)
       values ($1, $2, $3, $4, false, $5, 'public',
               (select m.id from raw_inbound r join messages m on m.raw_inbound_id = r.id
                 where r.provider = $5 and r.provider_message_id = $6 order by m.id limit 1),
               $7)
       on conflict (source, case_id, update_id) do nothing`,
      [caseId, u.updateId, u.status, u.description, contact.provider, contact.providerMessageId, u.updatedAt]
    )
    return { recorded: (inserted.rowCount ?? 0) > 0 }
  })
}
