import type { Queryable } from '../../db/pool.js'
import { GroupCommit, type GroupCommitOptions } from '../../intake/group-commit.js'
import type { IntakeParams } from '../../intake/intake.js'

/** One mail as switchboard_email_intake (src/channels/email/sql/email-intake.sql) takes it. */
export interface EmailIntakeArgs {
  /** the contact, as every channel's */
  p: IntakeParams
  /** the message's bytes, kept */
  raw: Buffer
  /** the mail's own facts: envelope, attachments, a bounce's original, the acknowledgement */
  e: Record<string, unknown>
}

export interface EmailIntakeRow {
  case_id: number
  reference: string
  outbox_id: number | null
  outbox_job_key: string | null
  replayed: boolean
  opened: boolean
  ack_message_id: number | null
  ack_outbox_id: number | null
  ack_job_key: string | null
}

/** One mail in its own statement; null when the function stored nothing (the same bytes seen before, or a release already settled). */
export async function storeEmail(db: Queryable, a: EmailIntakeArgs): Promise<EmailIntakeRow | null> {
  const { rows } = await db.query<EmailIntakeRow>({ name: 'email-intake', text: 'select * from switchboard_email_intake($1, $2, $3)', values: [a.p, a.raw, a.e] })
  return rows[0] ?? null
}

/** Several mails in one statement, so one transaction: all or none; results in the order given. */
export async function storeEmails(db: Queryable, all: readonly EmailIntakeArgs[]): Promise<(EmailIntakeRow | null)[]> {
  const { rows } = await db.query<EmailIntakeRow & { i: string }>({
    name: 'email-intake-many',
    // one after another, in array order; a mail the function stores nothing for keeps its place, as nulls
    text: `select b.i, r.* from unnest($1::jsonb[], $2::bytea[], $3::jsonb[]) with ordinality as b (p, raw, e, i)
           left join lateral switchboard_email_intake(b.p, b.raw, b.e) as r on true
           order by b.i`,
    values: [all.map((a) => a.p), all.map((a) => a.raw), all.map((a) => a.e)]
  })
  if (rows.length !== all.length) throw new Error(`switchboard_email_intake returned ${rows.length} rows for ${all.length} mails`)
  return rows.map(({ i: _i, ...row }) => (row.case_id === null ? null : row))
}

/**
 * Group commit for mail (src/intake/group-commit.ts), as IntakeBatcher is for the other
 * channels: a mail alone while a statement slot is free; during a burst of sessions, the
 * mails that finish meanwhile in one statement and one commit. No session is answered 250
 * before its mail is committed.
 */
export class EmailStore extends GroupCommit<EmailIntakeArgs, EmailIntakeRow | null> {
  constructor(db: Queryable, opts: GroupCommitOptions) {
    super({ one: (a) => storeEmail(db, a), many: (all) => storeEmails(db, all), lockKey }, opts)
  }
}

/** By sender, then message, as for the other channels: the rows a mail locks are its resident's. */
function lockKey(a: EmailIntakeArgs): string {
  return `${a.p.email ?? ''}\u0000${a.p.phone ?? ''}\u0000${a.p.provider}\u0000${a.p.provider_message_id}`
}
