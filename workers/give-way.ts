import type { Logger } from 'pino'
import type { PressureSource } from '../src/lib/intake-pressure.js'

export interface BurstWatchOptions {
  /** how often the pressure is read, ms */
  intervalMs?: number
  /** readings averaged: a burst is judged over this many intervals (two seconds), not one */
  window?: number
  /**
   * mean number of contacts in hand over the window at or above which a burst begins: the
   * API's statement slots for storing contacts (half of DATABASE_POOL_SIZE); it is over
   * once the mean falls below 60 % of that
   */
  crowd: number
}

/** Whether more contacts are coming in than the process stores at once, as last read. */
export interface BurstWatch {
  readonly on: boolean
  stop(): void
}

/**
 * Reads the API's intake pressure every interval and says whether a burst is on: over the
 * last two seconds, more contacts in hand on average than the API has statement slots to
 * store them with. By Little's law the number in hand is the arrival rate times the time
 * each takes, so it climbs past the slots only once contacts queue for the machine.
 * Measured on the bench's 2-core machine (means over a second): 14 to 17 in hand with 10
 * slots at full speed, 1.5 to 4.4 at half of it, 1.7 to 9.5 at three quarters, hundreds
 * under an overload. Single readings jump (19 as a paced load opens its connections, or
 * with a pause for garbage collection), hence the two-second mean. Written by hand: a
 * threshold with hysteresis over our own counter, nothing a library would add.
 */
export function watchForBursts(pressure: PressureSource, log: Logger, opts: BurstWatchOptions): BurstWatch {
  const intervalMs = opts.intervalMs ?? 250
  const window = opts.window ?? 8
  const readings: number[] = []
  let on = false
  const timer = setInterval(() => {
    const { mean } = pressure.sample()
    readings.push(mean)
    if (readings.length > window) readings.shift()
    const avg = readings.reduce((a, b) => a + b, 0) / readings.length
    const next = on ? avg >= 0.6 * opts.crowd : readings.length === window && avg >= opts.crowd
    if (next && !on) log.info({ meanInHand: Math.round(avg * 10) / 10 }, 'burst of contacts: new cases wait for routing while contacts are stored')
    if (!next && on) log.info('burst over: routing the cases held back')
    on = next
  }, intervalMs)
  timer.unref()
  return {
    get on() {
      return on
    },
    stop() {
      clearInterval(timer)
      on = false
    }
  }
}
