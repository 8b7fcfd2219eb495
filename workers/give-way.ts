import type { Job, Worker } from 'bullmq'
import type { Logger } from 'pino'
import type { PressureSource } from '../src/lib/intake-pressure.js'

export interface GiveWayOptions {
  /** how often the pressure is read, ms */
  intervalMs?: number
  /** share of the interval the API had contacts in hand at or above which it counts as saturated */
  saturated?: number
  /** and the mean number in hand at or above which (one client after another is no burst) */
  crowd?: number
  /** once a case has waited this long for routing, the workers stop giving way, ms */
  maxLagMs?: number
}

export interface GiveWay {
  stop(): void
}

/**
 * In the all-in-one process the API and the workers share one thread, and the machine's
 * cores with Postgres. During a burst of contacts, every routing job run takes time from
 * acknowledging residents, and a stored case loses nothing by waiting a few seconds. So
 * while the API is saturated (contacts in hand for at least 90 % of an interval, four or
 * more on average) the workers halve how many jobs they run at once (never below one:
 * routing slows, it never stops), and once the burst has passed they add back a sixteenth of
 * their full concurrency per interval, up to ROUTE_CONCURRENCY / DELIVERY_CONCURRENCY (AIMD,
 * as in TCP congestion control). A steady stream the process keeps up with leaves gaps and never triggers it.
 * Written by hand: this is a few lines of policy over BullMQ's own runtime-settable
 * concurrency, which honours a lower value before fetching the next job.
 *
 * Giving way is bounded: once a case starting to be routed has waited `maxLagMs` in the
 * queue, the workers climb back to full concurrency however busy the API is. Under a
 * sustained overload, intake then slows instead (residents see a slower answer, never a
 * lost contact) and routing lag stays bounded.
 */
export function startGiveWay(pressure: PressureSource, workers: { route: Worker; others: Worker[] }, log: Logger, opts: GiveWayOptions = {}): GiveWay {
  const intervalMs = opts.intervalMs ?? 250
  const saturated = opts.saturated ?? 0.9
  const crowd = opts.crowd ?? 4
  const maxLagMs = opts.maxLagMs ?? 30_000
  const all = [workers.route, ...workers.others]
  const max = new Map(all.map((w) => [w, w.concurrency]))
  // the longest a case that started routing in the last interval had waited in the queue
  // (first attempts only: a retry's wait includes its backoff); kept from the interval
  // before when no case started, since then there is nothing new to go on
  let lag = 0
  let lagThisInterval: number | null = null
  const onActive = (job: Job) => {
    if (job.attemptsMade === 0) lagThisInterval = Math.max(lagThisInterval ?? 0, Date.now() - job.timestamp)
  }
  workers.route.on('active', onActive)
  let yielding = false
  const timer = setInterval(() => {
    const { mean, busy } = pressure.sample()
    if (lagThisInterval !== null) lag = lagThisInterval
    lagThisInterval = null
    const burst = busy >= saturated && mean >= crowd
    if (burst && lag < maxLagMs) {
      for (const w of all) w.concurrency = Math.max(1, Math.floor(w.concurrency / 2))
      if (!yielding) log.info({ meanInFlight: Math.round(mean * 10) / 10 }, 'burst of contacts: routing and delivery give way')
      yielding = true
    } else {
      let full = true
      for (const w of all) {
        const top = max.get(w) ?? 1
        // a sixteenth of the way back each interval: a worker holding hundreds of jobs (routing
        // places them in batches) is back to full within four seconds, not a minute
        if (w.concurrency < top) w.concurrency = Math.min(top, w.concurrency + Math.max(1, Math.ceil(top / 16)))
        if (w.concurrency < top) full = false
      }
      if (yielding && full) log.info('burst over: routing and delivery back to full concurrency')
      if (full) yielding = false
    }
  }, intervalMs)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      workers.route.off('active', onActive)
      for (const w of all) w.concurrency = max.get(w) ?? w.concurrency
    }
  }
}
