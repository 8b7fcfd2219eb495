import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { BANK_HOLIDAYS_FILE } from '../../src/sla/bank-holidays.js'
import { addBusinessHours, businessHoursBetween, officeHours } from '../../src/sla/business-hours.js'

// Times are written in UTC: London is UTC in winter (GMT) and UTC+1 in summer (BST).

const file = JSON.parse(readFileSync(BANK_HOLIDAYS_FILE, 'utf8')) as Record<string, { events: { title: string; date: string }[] }>
const englandAndWales = officeHours(new Set(file['england-and-wales']!.events.map((e) => e.date)))
const add = (start: string, hours: number) => addBusinessHours(new Date(start), hours, englandAndWales).toISOString()

describe('adding business hours in Europe/London', () => {
  it('carries a Friday 16:00 over the weekend: + 2 h is Monday 10:00', () => {
    // Friday 5 June 2026, 16:00 BST
    expect(add('2026-06-05T15:00:00Z', 2)).toBe('2026-06-08T09:00:00.000Z')
  })

  it('ends at closing time when the hours fit exactly, and counts a working week as 40 h', () => {
    expect(add('2026-06-05T15:00:00Z', 1)).toBe('2026-06-05T16:00:00.000Z')
    // Wednesday 10:00 BST + 40 h = the next Wednesday 10:00
    expect(add('2026-06-10T09:00:00Z', 40)).toBe('2026-06-17T09:00:00.000Z')
  })

  it('starts counting at the next opening when the case comes in at night or at the weekend', () => {
    // Tuesday 07:00 BST + 1 h = Tuesday 10:00; Saturday noon + 1 h = Monday 10:00; Monday 18:00 + 0 h = Tuesday 09:00
    expect(add('2026-06-09T06:00:00Z', 1)).toBe('2026-06-09T09:00:00.000Z')
    expect(add('2026-06-06T11:00:00Z', 1)).toBe('2026-06-08T09:00:00.000Z')
    expect(add('2026-06-08T17:00:00Z', 0)).toBe('2026-06-09T08:00:00.000Z')
  })

  it('skips Christmas Day and the substitute Boxing Day', () => {
    // Thursday 24 December 2026, 16:00 GMT; Friday 25th and Monday 28th (Boxing Day's substitute) are off
    expect(add('2026-12-24T16:00:00Z', 2)).toBe('2026-12-29T10:00:00.000Z')
  })

  it('skips Good Friday and Easter Monday', () => {
    // Thursday 2 April 2026, 16:00 BST → Tuesday 7 April, 10:00 BST
    expect(add('2026-04-02T15:00:00Z', 2)).toBe('2026-04-07T09:00:00.000Z')
  })

  it('keeps opening hours at 09:00 local time across both clock changes', () => {
    // Friday 27 March 2026 16:00 GMT; the clocks go forward on Sunday 29th: Monday 10:00 BST
    expect(add('2026-03-27T16:00:00Z', 2)).toBe('2026-03-30T09:00:00.000Z')
    // Friday 23 October 2026 16:00 BST; the clocks go back on Sunday 25th: Monday 10:00 GMT
    expect(add('2026-10-23T15:00:00Z', 2)).toBe('2026-10-26T10:00:00.000Z')
  })

  it('answers the same from a calendar it has walked before as from a fresh one', () => {
    // Each calendar keeps the days it has walked; every case placed today walks the same few.
    // Starts every 37 minutes from Thursday 26 March to Wednesday 8 April 2026: a clock
    // change, Easter's holidays, nights and weekends, and midnights either side of each.
    const holidays = new Set(file['england-and-wales']!.events.map((e) => e.date))
    const walked = officeHours(holidays)
    let compared = 0
    for (let at = Date.parse('2026-03-26T00:00:00Z'); at < Date.parse('2026-04-08T00:00:00Z'); at += 37 * 60_000) {
      for (const hours of [0, 0.25, 3.2, 8, 40]) {
        const fresh = addBusinessHours(new Date(at), hours, officeHours(holidays)).toISOString()
        expect(addBusinessHours(new Date(at), hours, walked).toISOString(), `${new Date(at).toISOString()} + ${hours} h`).toBe(fresh)
        compared++
      }
    }
    expect(compared).toBeGreaterThan(2_500)
  })

  it('counts fractions of an hour, and refuses a negative target', () => {
    expect(add('2026-06-08T08:00:00Z', 0.25)).toBe('2026-06-08T08:15:00.000Z')
    expect(() => add('2026-06-08T08:00:00Z', -1)).toThrow(RangeError)
  })
})

describe('the England and Wales bank holidays', () => {
  it('has the eight holidays of each year 2025 to 2028, with the substitute days', () => {
    const dates = file['england-and-wales']!.events.map((e) => e.date)
    for (const year of ['2025', '2026', '2027', '2028']) expect(dates.filter((d) => d.startsWith(year))).toHaveLength(8)
    // Christmas 2027 falls on a Saturday, New Year's Day 2028 too
    expect(dates).toEqual(expect.arrayContaining(['2027-12-27', '2027-12-28', '2028-01-03', '2026-12-28', '2026-08-31']))
    expect(dates).not.toContain('2027-12-25')
  })
})

describe('business hours between two instants', () => {
  const between = (a: string, b: string) => businessHoursBetween(new Date(a), new Date(b), englandAndWales)

  it('counts only opening hours: Friday 16:00 to Monday 10:00 BST is 2 h, and a working week 40 h', () => {
    expect(between('2026-06-05T15:00:00Z', '2026-06-08T09:00:00Z')).toBe(2)
    expect(between('2026-06-10T09:00:00Z', '2026-06-17T09:00:00Z')).toBe(40)
  })

  it('skips Christmas and the substitute Boxing Day, and is 0 backwards or within a night', () => {
    expect(between('2026-12-24T16:00:00Z', '2026-12-29T10:00:00Z')).toBe(2)
    expect(between('2026-06-09T09:00:00Z', '2026-06-08T09:00:00Z')).toBe(0)
    expect(between('2026-06-08T18:00:00Z', '2026-06-09T06:00:00Z')).toBe(0)
  })

  it('undoes addBusinessHours for any start and length', () => {
    for (const start of ['2026-03-27T15:30:00Z', '2026-10-23T12:15:00Z', '2026-12-23T07:00:00Z']) {
      for (const hours of [0.5, 3, 8, 27.25, 80]) {
        const end = addBusinessHours(new Date(start), hours, englandAndWales)
        // from the first opening at or after the start (a night start counts from the opening)
        expect(businessHoursBetween(new Date(start), end, englandAndWales)).toBeCloseTo(hours, 6)
      }
    }
  })
})
