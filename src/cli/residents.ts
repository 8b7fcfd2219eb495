import type { Command } from 'commander'
import { loadConfig } from '../config.js'
import { eraseResident } from '../data-protection/erasure.js'
import { exportResident } from '../data-protection/export.js'
import { contactOf } from '../data-protection/footprint.js'
import { createRedis, redactUrl } from '../infra.js'
import { createLogger } from '../logger.js'
import { printJson, withDatabase } from './database.js'

/** `resident ...`: a resident's rights: subject access (export) and erasure. */
export function registerResidentCommands(program: Command): void {
  const residents = program.command('resident').description("a resident's data protection rights: see everything held, erase it")

  residents
    .command('export')
    .description('everything held about the person at this email address or phone number, as one JSON document on stdout')
    .requiredOption('--contact <email or phone>', 'the email address or phone number the resident used')
    .action(async (opts: { contact: string }) => {
      const contact = contactOf(opts.contact)
      printJson(await withDatabase((db) => exportResident(db, contact, { actor: 'operator:cli' })))
    })

  residents
    .command('erase')
    .description(
      "erase the personal data of the person at these email addresses and phone numbers (cases under legal hold are kept and listed); prints the outcome as JSON. " +
        'Needs Postgres and Redis; the running workers send the council systems their case.erased notices.'
    )
    .requiredOption(
      '--contact <email or phone>',
      'an email address or phone number the resident has shown to be theirs; repeat it for each one they used (identities join only on proof, so one person may be several residents here)',
      (value: string, previous: string[] = []) => [...previous, value]
    )
    .requiredOption('--reason <text>', "the request and how the resident was identified; never the resident's own details")
    .action(async (opts: { contact: string[]; reason: string }) => {
      const contacts = opts.contact.map(contactOf)
      const config = loadConfig()
      const redis = createRedis(config.REDIS_URL, false)
      redis.on('error', () => {})
      try {
        await redis.connect().catch((err: Error) => {
          throw new Error(`cannot reach Redis at REDIS_URL=${redactUrl(config.REDIS_URL)} (${err.message}): nothing was erased; start Redis or fix REDIS_URL`)
        })
        // the log line of the erasure (counts only) goes to stderr; stdout carries the result
        const log = createLogger(config, process.stderr)
        const result = await withDatabase((db) => eraseResident({ db, redis, prefix: config.QUEUE_PREFIX, log }, { contacts, reason: opts.reason, actor: 'operator:cli' }))
        printJson(result)
      } finally {
        redis.disconnect()
      }
    })
}
