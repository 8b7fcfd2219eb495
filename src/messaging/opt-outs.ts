import type { Queryable } from '../db/pool.js'

/** Twilio's default keywords (Advanced Opt-Out): a text that is only one of these words. */
const STOP_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT'])
const START_WORDS = new Set(['START', 'YES', 'UNSTOP'])
const HELP_WORDS = new Set(['HELP', 'INFO'])

export type SmsKeyword = 'STOP' | 'START' | 'HELP'

/**
 * The opt-out keyword a text carries: Twilio's own classification (`OptOutType`) when it
 * sent one, else the text being just one of the standard words, in any case and spacing.
 */
export function smsKeyword(body: string, optOutType: string | undefined): SmsKeyword | null {
  const given = optOutType?.trim().toUpperCase()
  if (given === 'STOP' || given === 'START' || given === 'HELP') return given
  const word = body.trim().replace(/[.!]+$/, '').toUpperCase()
  if (STOP_WORDS.has(word)) return 'STOP'
  if (START_WORDS.has(word)) return 'START'
  if (HELP_WORDS.has(word)) return 'HELP'
  return null
}

/** Records a resident number's STOP or START; the latest word wins. */
export async function recordOptOut(db: Queryable, phone: string, keyword: 'STOP' | 'START'): Promise<void> {
  await db.query(
    `insert into sms_opt_outs (phone, opted_out, keyword) values ($1, $2, $3)
     on conflict (phone) do update set opted_out = excluded.opted_out, keyword = excluded.keyword, changed_at = now()`,
    [phone, keyword === 'STOP', keyword]
  )
}

/** Whether nothing may be sent to this number: its latest word was STOP. */
export async function isOptedOut(db: Queryable, phone: string): Promise<boolean> {
  const { rows } = await db.query<{ opted_out: boolean }>({ name: 'sms-opted-out', text: 'select opted_out from sms_opt_outs where phone = $1', values: [phone] })
  return rows[0]?.opted_out === true
}
