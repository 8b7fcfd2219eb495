import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Queryable } from '../db/pool.js'
import { projectRoot } from '../lib/paths.js'

/** gov.uk's own layout (https://www.gov.uk/bank-holidays.json), so its file can replace ours. */
type BankHolidayFile = Record<string, { division: string; events: { title: string; date: string }[] }>

export const BANK_HOLIDAYS_FILE = join(projectRoot, 'seeds', 'bank-holidays.json')

/**
 * Loads every division's holidays from the file into bank_holidays. Idempotent: a day
 * already there is left alone (an operator may have added a one-off, such as a coronation).
 * Returns the number of days added.
 */
export async function loadBankHolidays(db: Queryable, file = BANK_HOLIDAYS_FILE): Promise<number> {
  const data = JSON.parse(await readFile(file, 'utf8')) as BankHolidayFile
  const calendars: string[] = []
  const days: string[] = []
  const titles: string[] = []
  for (const [calendar, division] of Object.entries(data)) {
    for (const e of division.events) {
      calendars.push(calendar)
      days.push(e.date)
      titles.push(e.title)
    }
  }
  const res = await db.query(
    `insert into bank_holidays (calendar, day, title)
     select * from unnest($1::text[], $2::date[], $3::text[])
     on conflict (calendar, day) do nothing`,
    [calendars, days, titles]
  )
  return res.rowCount ?? 0
}

/** The holidays of each named calendar, as local dates (YYYY-MM-DD). */
export async function holidaysOf(db: Queryable, calendars: string[]): Promise<Map<string, Set<string>>> {
  const byCalendar = new Map<string, Set<string>>(calendars.map((c) => [c, new Set<string>()]))
  if (!calendars.length) return byCalendar
  const { rows } = await db.query<{ calendar: string; day: string }>(
    `select calendar, to_char(day, 'YYYY-MM-DD') as day from bank_holidays where calendar = any($1::text[])`,
    [calendars]
  )
  for (const r of rows) byCalendar.get(r.calendar)?.add(r.day)
  return byCalendar
}
