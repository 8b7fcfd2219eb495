import { createHmac, timingSafeEqual } from 'node:crypto'
import { tokenSecret } from '../agents/sessions.js'
import type { Queryable } from '../db/pool.js'
import { recordEvent } from '../events/record.js'
import type { OutboxRow } from '../jobs/outbox-relay.js'
import { queueEmail } from '../messaging/email-outbound.js'
import { queueText } from '../messaging/outbound.js'

/**
 * Customer satisfaction (CSAT): once a case is resolved, its resident is asked one question,
 * once, on the channel they used: by text ("reply 1 to 5"), or by email with five links, each
 * carrying a token signed for the case. Nothing is asked of a number that texted STOP, of a
 * case opened by automatic mail, or on channels with no way to answer (web forms, calls).
 * The answer is kept against the case with its council, service, channel and agent as they
 * were at resolution (csat_surveys), for the reports.
 */

/** How long after asking a text of "1" to "5" counts as the answer. */
export const SMS_ANSWER_DAYS = 7

export const SMS_QUESTION = (reference: string) =>
  `Your report ${reference} is now resolved. How did we do? Reply with a number from 1 (poor) to 5 (very good).`
export const SMS_THANKS = 'Thank you for your feedback.'

/** Signs and checks the case id an email's answer links carry (HMAC-SHA256, from the deployment's token secret). */
export interface FeedbackSigner {
  token(caseId: number): string
  caseOf(token: string): number | null
}

const signers = new WeakMap<object, Promise<FeedbackSigner>>()

/** The deployment's signer, made once per pool from the agent token secret (tokenSecret: AGENT_TOKEN_SECRET, or the database's own). */
export function feedbackSignerFor(db: Queryable, configuredSecret: string | undefined): Promise<FeedbackSigner> {
  let signer = signers.get(db)
  if (!signer) {
    signer = tokenSecret(db, configuredSecret).then(feedbackSigner)
    signer.catch(() => signers.delete(db))
    signers.set(db, signer)
  }
  return signer
}

export function feedbackSigner(secret: string): FeedbackSigner {
  const key = createHmac('sha256', secret).update('switchboard feedback links').digest()
  const mac = (id: string) => createHmac('sha256', key).update(`csat:${id}`).digest('base64url').slice(0, 32)
  return {
    token: (caseId) => `${caseId}.${mac(String(caseId))}`,
    caseOf(token) {
      const m = /^([1-9][0-9]{0,17})\.([A-Za-z0-9_-]{32})$/.exec(token)
      if (!m) return null
      const want = Buffer.from(mac(m[1]!))
      const got = Buffer.from(m[2]!)
      return want.length === got.length && timingSafeEqual(want, got) ? Number(m[1]) : null
    }
  }
}

interface Resolved {
  id: number
  reference: string
  channel: string
  reported_phone: string | null
  reported_email: string | null
  contacted_address: string | null
  opted_out: boolean
  automatic: boolean
  subject: string | null
}

/**
 * Asks the resident of a case just resolved, in the caller's transaction: the survey row
 * (once per case: a second resolution asks nothing) and the question queued with its outbox
 * row, which the caller relays once committed. Null when nothing is to be asked.
 */
export async function askForFeedback(
  db: Queryable,
  caseId: number,
  opts: { agentId: number | null; signer: FeedbackSigner; publicBaseUrl: string; emailDomain: string }
): Promise<OutboxRow | null> {
  const { rows } = await db.query<Resolved>(
    `select c.id, c.reference, c.channel, c.reported_phone, c.reported_email, c.contacted_address,
            exists (select 1 from sms_opt_outs o where o.phone = c.reported_phone) as opted_out,
            coalesce((select m.kind is not null from messages m where m.case_id = c.id and m.direction = 'inbound' order by m.id limit 1), false) as automatic,
            (select m.subject from messages m where m.case_id = c.id and m.direction = 'inbound' and m.channel = 'email' order by m.id limit 1) as subject
       from cases c where c.id = $1`,
    [caseId]
  )
  const c = rows[0]
  if (!c || c.automatic || !c.contacted_address) return null
  const by = c.channel === 'sms' && c.reported_phone && !c.opted_out ? 'sms' : c.channel === 'email' && c.reported_email ? 'email' : null
  if (!by) return null
  const asked = await db.query(
    `insert into csat_surveys (case_id, channel, case_channel, council_gss, service_code, team_id, agent_id)
     select c.id, $2, c.channel, c.council_gss, c.service_code, c.team_id, $3 from cases c where c.id = $1
     on conflict (case_id) do nothing`,
    [c.id, by, opts.agentId]
  )
  if (!asked.rowCount) return null
  await recordEvent(db, { caseId: c.id, type: 'csat.asked', actor: 'system:csat', reason: `The resident was asked how we did, by ${by === 'sms' ? 'text' : 'email'}`, data: { channel: by } })
  if (by === 'sms') {
    return queueText(db, { caseId: c.id, to: c.reported_phone!, from: c.contacted_address, body: SMS_QUESTION(c.reference), author: 'system:csat', why: 'The satisfaction question, after resolution' })
  }
  const token = opts.signer.token(c.id)
  const links = [1, 2, 3, 4, 5].map((n) => `  ${n}${n === 1 ? ' (poor)' : n === 5 ? ' (very good)' : ''}: ${opts.publicBaseUrl}/v1/feedback/${token}?score=${n}`)
  const body = [
    `Your report ${c.reference} is now resolved.`,
    '',
    'How did we do? Choose one link, from 1 (poor) to 5 (very good):',
    '',
    ...links,
    '',
    'One question, once. You do not need to reply to this email.'
  ].join('\n')
  return queueEmail(db, {
    caseId: c.id,
    to: c.reported_email!,
    from: c.contacted_address,
    subject: `How did we do? [Ref: ${c.reference}]`,
    body,
    // automatic: it says so (Auto-Submitted), so an out-of-office does not answer it
    thread: { inReplyTo: null, references: [], automatic: true },
    author: 'system:csat',
    why: 'The satisfaction question, after resolution',
    emailDomain: opts.emailDomain
  })
}

/** Records a case's answer if it has a survey not yet answered: the first answer counts. Returns whether it was recorded. */
export async function recordAnswer(db: Queryable, caseId: number, score: number, how: 'sms' | 'email'): Promise<'recorded' | 'already' | 'unknown'> {
  const { rows } = await db.query<{ recorded: boolean; known: boolean }>(
    `with s as (select case_id, score from csat_surveys where case_id = $1),
          upd as (update csat_surveys set score = $2, answered_at = clock_timestamp() where case_id = $1 and score is null returning case_id)
     select (select count(*) from upd) > 0 as recorded, exists (select 1 from s) as known`,
    [caseId, score]
  )
  const r = rows[0]!
  if (!r.known) return 'unknown'
  if (!r.recorded) return 'already'
  await recordEvent(db, { caseId, type: 'csat.answered', actor: `resident:${how}`, reason: `The resident rated us ${score} out of 5`, data: { score, channel: how } })
  return 'recorded'
}

/** A text that is only a rating, 1 to 5 ("4", " 5.", "3!"): its score, else null. */
export function ratingOf(text: string): number | null {
  const m = /^\s*([1-5])\s*[.!]?\s*$/.exec(text)
  return m ? Number(m[1]) : null
}

/** The case whose survey a rating texted from this number answers: the latest asked by text within SMS_ANSWER_DAYS, unanswered. */
export async function pendingSmsSurvey(db: Queryable, phone: string): Promise<number | null> {
  const { rows } = await db.query<{ case_id: number }>(
    `select s.case_id from csat_surveys s join cases c on c.id = s.case_id
      where c.reported_phone = $1 and s.channel = 'sms' and s.score is null and s.asked_at > now() - make_interval(days => $2)
      order by s.asked_at desc limit 1`,
    [phone, SMS_ANSWER_DAYS]
  )
  return rows[0]?.case_id ?? null
}
