import type { Command } from 'commander'
import { contactOf } from '../data-protection/footprint.js'
import { exportResident } from '../data-protection/export.js'
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
}
