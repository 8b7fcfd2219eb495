/** Dates and durations as agents in the UK read them. */
const when = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Europe/London' })

export const formatWhen = (iso: string | null) => (iso ? when.format(new Date(iso)) : '—')

/** "in 3 h 20 min" or "5 min ago", for an SLA due time. */
export function untilOrAgo(iso: string | null, now = Date.now()): string {
  if (!iso) return 'no target'
  const ms = new Date(iso).getTime() - now
  const mins = Math.round(Math.abs(ms) / 60_000)
  const text = mins >= 60 * 24 ? `${Math.floor(mins / 1440)} d ${Math.floor((mins % 1440) / 60)} h` : mins >= 60 ? `${Math.floor(mins / 60)} h ${mins % 60} min` : `${mins} min`
  return ms >= 0 ? `due in ${text}` : `overdue by ${text}`
}

export const ageOf = (seconds: number | null) => (seconds === null ? '—' : seconds >= 3600 ? `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min` : `${Math.floor(seconds / 60)} min`)
