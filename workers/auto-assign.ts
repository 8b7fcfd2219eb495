import type { Logger } from 'pino'
import { assignRoundRobin } from '../src/agents/assignment.js'
import type { Db } from '../src/db/pool.js'
import { isTransientInfraError } from '../src/errors.js'

export interface AutoAssign {
  /** Stops the timer and waits for a run in progress to finish. */
  stop(): Promise<void>
}

/**
 * Hands out the queues of every team with auto_assign, round-robin to its online agents with
 * spare capacity, every `everyMs` (ASSIGN_EVERY_MS): a new case is with an agent within about
 * that long, with no API call. A timer, not a queue: each run looks at the whole state, so a
 * missed run loses nothing and the next one catches up. Several worker processes may run it
 * at once; assignRoundRobin's row locks keep them from handing a case out twice or an agent
 * beyond capacity.
 */
export function startAutoAssign(db: Db, opts: { everyMs: number; log: Logger }): AutoAssign {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  let stopped = false

  const run = async () => {
    const { rows } = await db.query<{ partnership_id: string }>('select distinct partnership_id from teams where auto_assign order by partnership_id')
    for (const { partnership_id } of rows) {
      if (stopped) return
      try {
        const done = await assignRoundRobin(db, partnership_id)
        if (done.length) opts.log.debug({ partnership: partnership_id, assigned: done.length }, 'cases assigned round-robin')
      } catch (err) {
        // a lock wait cut short by another run at the same moment is expected now and then
        const level = isTransientInfraError(err) ? 'debug' : 'warn'
        opts.log[level]({ partnership: partnership_id, err: { message: (err as Error).message } }, 'automatic assignment failed; will try again')
      }
    }
  }
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      running = run()
        .catch((err: Error) => opts.log.warn({ err: { message: err.message } }, 'automatic assignment failed; will try again'))
        .finally(schedule)
    }, opts.everyMs)
    timer.unref()
  }
  schedule()
  return {
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    }
  }
}
