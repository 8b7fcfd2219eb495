// Business-hours arithmetic, written by hand: no well-kept library adds working hours in a
// UK time zone while skipping bank holidays (the date libraries know zones but not working
// weeks, the working-day ones know neither zones nor gov.uk's holidays). It uses only Date
// and the zone offset Intl.DateTimeFormat reports, so it is exact across clock changes.

/** A council's working week, as migration 017 stores it. */
export interface BusinessCalendar {
  /** IANA zone the opening hours are in, e.g. Europe/London */
  timeZone: string
  /** ISO weekdays it works, 1 = Monday … 7 = Sunday */
  days: readonly number[]
  /** opening and closing, minutes after local midnight */
  opensMinute: number
  closesMinute: number
  /** local dates off, as YYYY-MM-DD */
  holidays: ReadonlySet<string>
}

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000
// a calendar with no working day left would loop forever: ten years is plenty for any target
const MAX_DAYS = 3_660

/** The default: Monday to Friday, 09:00 to 17:00, Europe/London, no holidays. */
export function officeHours(holidays: ReadonlySet<string> = new Set()): BusinessCalendar {
  return { timeZone: 'Europe/London', days: [1, 2, 3, 4, 5], opensMinute: 9 * 60, closesMinute: 17 * 60, holidays }
}

/**
 * The instant `hours` working hours after `start`: time outside opening hours, on days off
 * and on holidays does not count. Zero hours from outside opening hours is the next opening.
 */
export function addBusinessHours(start: Date, hours: number, cal: BusinessCalendar): Date {
  if (!Number.isFinite(hours) || hours < 0) throw new RangeError(`business hours must be a non-negative number, not ${hours}`)
  let remaining = hours * HOUR_MS
  let at = start.getTime()
  let day = startDay(at, cal)
  for (let i = 0; i < MAX_DAYS; i++) {
    const hours = dayOf(day, cal)
    if (hours.working) {
      if (at < hours.opens) at = hours.opens
      if (at < hours.closes) {
        if (remaining <= hours.closes - at) return new Date(at + remaining)
        remaining -= hours.closes - at
      }
    }
    day = hours.next
    at = hours.nextMidnight
  }
  throw new RangeError('the calendar has no working time in the next ten years')
}

/**
 * The working hours between two instants (0 when `to` is not after `from`): the inverse of
 * addBusinessHours, so addBusinessHours(from, businessHoursBetween(from, to, cal), cal) is
 * `to` whenever `to` falls within opening hours. Used to carry what was left of a paused
 * clock over to when it resumes.
 */
export function businessHoursBetween(from: Date, to: Date, cal: BusinessCalendar): number {
  const end = to.getTime()
  let at = from.getTime()
  if (end <= at) return 0
  let total = 0
  let day = startDay(at, cal)
  for (let i = 0; i < MAX_DAYS && at < end; i++) {
    const hours = dayOf(day, cal)
    if (hours.working) {
      const a = Math.max(at, hours.opens)
      const b = Math.min(end, hours.closes)
      if (b > a) total += b - a
    }
    day = hours.next
    at = hours.nextMidnight
  }
  return total / HOUR_MS
}

/** Parses 'HH:MM' or 'HH:MM:SS' (Postgres `time`) into minutes after midnight. */
export function minutesOf(time: string): number {
  const m = /^(\d{2}):(\d{2})/.exec(time)
  if (!m) throw new RangeError(`not a time of day: ${time}`)
  return Number(m[1]) * 60 + Number(m[2])
}

interface LocalDate {
  y: number
  m: number
  d: number
}

/** One local day of a calendar, as addBusinessHours walks it. */
interface DayHours {
  working: boolean
  /** when it opens and closes (instants, ms) */
  opens: number
  closes: number
  next: LocalDate
  /** the next day's local midnight (instant, ms) */
  nextMidnight: number
}

// Each day's opening instants take several zone look-ups (Intl, the slow part), and every
// case placed today walks the same few days: they are kept per calendar object, a bounded
// number of days each (a calendar is rebuilt whenever the routing catalogue reloads).
const DAYS_KEPT = 2_000
const dayCache = new WeakMap<BusinessCalendar, Map<string, DayHours>>()

function dayOf(day: LocalDate, cal: BusinessCalendar): DayHours {
  let days = dayCache.get(cal)
  if (!days) dayCache.set(cal, (days = new Map()))
  const key = isoDate(day)
  let hours = days.get(key)
  if (!hours) {
    const next = nextDay(day)
    hours = {
      working: isWorkingDay(day, cal),
      opens: instantOf(day, cal.opensMinute, cal.timeZone),
      closes: instantOf(day, cal.closesMinute, cal.timeZone),
      next,
      nextMidnight: instantOf(next, 0, cal.timeZone)
    }
    if (days.size >= DAYS_KEPT) days.clear()
    days.set(key, hours)
  }
  return hours
}

/** The local day an instant falls on: the last one found for the calendar if it still holds. */
const lastDay = new WeakMap<BusinessCalendar, { day: LocalDate; from: number; to: number }>()

function startDay(at: number, cal: BusinessCalendar): LocalDate {
  const last = lastDay.get(cal)
  if (last && at >= last.from && at < last.to) return last.day
  const day = localDate(at, cal.timeZone)
  lastDay.set(cal, { day, from: instantOf(day, 0, cal.timeZone), to: dayOf(day, cal).nextMidnight })
  return day
}

function isWorkingDay(day: LocalDate, cal: BusinessCalendar): boolean {
  const weekday = new Date(Date.UTC(day.y, day.m - 1, day.d)).getUTCDay() || 7
  return cal.days.includes(weekday) && !cal.holidays.has(isoDate(day))
}

function isoDate({ y, m, d }: LocalDate): string {
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`
}

function nextDay({ y, m, d }: LocalDate): LocalDate {
  const next = new Date(Date.UTC(y, m - 1, d) + DAY_MS)
  return { y: next.getUTCFullYear(), m: next.getUTCMonth() + 1, d: next.getUTCDate() }
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** The wall-clock fields of an instant in a zone. */
function wallClock(at: number, timeZone: string): LocalDate & { h: number; min: number; s: number } {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
    formatters.set(timeZone, f)
  }
  const parts: Record<string, number> = {}
  for (const p of f.formatToParts(new Date(at))) if (p.type !== 'literal') parts[p.type] = Number(p.value)
  return { y: parts.year!, m: parts.month!, d: parts.day!, h: parts.hour!, min: parts.minute!, s: parts.second! }
}

function localDate(at: number, timeZone: string): LocalDate {
  const { y, m, d } = wallClock(at, timeZone)
  return { y, m, d }
}

/** How far the zone's wall clock is ahead of UTC at an instant, in ms (BST: one hour). */
function offsetAt(at: number, timeZone: string): number {
  const w = wallClock(at, timeZone)
  return Date.UTC(w.y, w.m - 1, w.d, w.h, w.min, w.s) - Math.floor(at / 1000) * 1000
}

/**
 * The instant a local date and minute of day happens in the zone. The offset is taken at a
 * first guess, then again at the result, which settles it either side of a clock change.
 * (UK clocks change at 01:00 and 02:00, outside any opening hours and not at midnight.)
 */
function instantOf(day: LocalDate, minute: number, timeZone: string): number {
  const asUtc = Date.UTC(day.y, day.m - 1, day.d, 0, minute)
  const guess = asUtc - offsetAt(asUtc, timeZone)
  return asUtc - offsetAt(guess, timeZone)
}
