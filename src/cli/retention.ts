import { pino } from 'pino'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { loadConfig } from '../config.js'
import { applyRetention } from '../data-protection/retention.js'
import { listSchedules, RECORD_CLASSES, setSchedule, type RecordClass } from '../data-protection/retention-schedules.js'
import { createLogger } from '../logger.js'
import { printJson, withDatabase } from './database.js'

function daysOf(value: string): number {
  const n = Number(value)
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 36_500) throw new InvalidArgumentError('the days are a whole number from 1 to 36500')
  return n
}

/** `retention ...`: the retention schedules and running the job by hand. */
export function registerRetentionCommands(program: Command): void {
  const retention = program.command('retention').description('how long each class of personal data is kept, and applying it')

  retention
    .command('show')
    .description('every schedule (the defaults, then councils that set their own) as JSON on stdout')
    .action(async () => {
      printJson(await withDatabase((db) => listSchedules(db)))
    })

  retention
    .command('set')
    .description('set how long a class is kept, by default or for one council; prints the schedule as JSON')
    .addOption(new Option('--class <class>', 'the record class').choices(RECORD_CLASSES).makeOptionMandatory())
    .requiredOption('--days <n>', 'days to keep, 1 to 36500', daysOf)
    .option('--council <gss>', "one council's own schedule (default: the default for every council)")
    .action(async (opts: { class: RecordClass; days: number; council?: string }) => {
      printJson(await withDatabase((db) => setSchedule(db, { record_class: opts.class, keep_days: opts.days, council_gss: opts.council ?? null }, 'operator:cli')))
    })

  retention
    .command('run')
    .description('apply the schedules now, without the workers; prints what was removed as JSON')
    .action(async () => {
      const config = loadConfig()
      // stdout carries only the result: the run's log line goes to stderr
      const log = createLogger(config, pino.destination(2))
      const result = await withDatabase((db) => applyRetention(db, { now: new Date(), batchSize: config.RETENTION_BATCH_SIZE, log }))
      printJson({ run_id: result.runId, as_of: result.asOf.toISOString(), counts: result.counts, detail: result.detail })
    })
}
