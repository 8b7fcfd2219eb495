import type { Config } from '../src/config.js'
import type { Db } from '../src/db/pool.js'
import type { Log } from '../src/logger.js'
import { loadBankHolidays } from '../src/sla/bank-holidays.js'
import { checkClocks, resumeClocks, setClocks, SLA_BATCH } from '../src/sla/clocks.js'

export interface SlaClockWorker {
  /** passes finished so far (a failed pass counts too: it is tried again next time) */
  readonly passes: number
  stop(): Promise<void>
}

/** How often the clocks are checked: SLA_CHECK_MS once the config declares it, else 15 s. */
export function slaCheckMs(config: Config): number {
  return config.SLA_CHECK_MS
}

/**
 * The SLA clock: a timer rather than a BullMQ job, because each pass is one bounded,
 * idempotent statement that any number of workers may run at once (marks and events are
 * written together, rows taken with SKIP LOCKED), so nothing needs queueing or deduping.
 * Passes run at once, then every `intervalMs`: clocks are set for newly placed cases, then
 * warnings and breaches raised.
 */
export function startSlaClock(db: Db, opts: { intervalMs: number; log: Log; now?: () => Date }): SlaClockWorker {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let passes = 0
  let running: Promise<void> = Promise.resolve()
  // the holidays ship with the code: loaded here too, so a database without demo data has them
  let holidaysLoaded = false
  const pass = async () => {
    try {
      if (!holidaysLoaded) {
        await loadBankHolidays(db)
        holidaysLoaded = true
      }
      const now = opts.now?.() ?? new Date()
      // routing sets the clocks of the cases it places: this is for the rest, in bounded batches
      let set = 0
      for (let batch = 0; batch < 20; batch++) {
        const n = await setClocks(db, { now })
        set += n
        if (n < SLA_BATCH) break
      }
      // clocks back from waiting on the resident are moved on before any is checked
      let resumed = 0
      for (let batch = 0; batch < 20; batch++) {
        const n = await resumeClocks(db)
        resumed += n
        if (n < SLA_BATCH) break
      }
      const events = await checkClocks(db, { now })
      if (set || resumed || events.length) {
        const breaches = events.filter((e) => e.type === 'sla.breached').length
        opts.log.info({ clocksSet: set, clocksResumed: resumed, warnings: events.length - breaches, breaches }, 'SLA clocks checked')
      }
    } catch (err) {
      opts.log.warn({ err: { message: (err as Error).message } }, 'SLA check failed; will try again')
    } finally {
      passes++
    }
  }
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      running = pass().finally(schedule)
    }, opts.intervalMs)
    timer.unref()
  }
  running = pass().finally(schedule)
  return {
    get passes() {
      return passes
    },
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running
    }
  }
}
