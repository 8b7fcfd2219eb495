import type { Command } from 'commander'
import { releaseLegalHold, setLegalHold } from '../data-protection/erasure.js'
import { printJson, withDatabase } from './database.js'

/** `case ...`: legal holds on cases. */
export function registerCaseCommands(program: Command): void {
  const cases = program.command('case').description('legal holds: a held case is neither erased nor expired')

  cases
    .command('hold')
    .description('put a case under legal hold; prints { "reference", "reason", "at" }')
    .requiredOption('--reference <ref>', 'the case reference, e.g. SB-ABCD-EFGH-JKLM')
    .requiredOption('--reason <text>', 'why it must be kept, e.g. a claim or an investigation')
    .action(async (opts: { reference: string; reason: string }) => {
      printJson(await withDatabase((db) => setLegalHold(db, opts.reference.trim().toUpperCase(), opts.reason, 'operator:cli')))
    })

  cases
    .command('release')
    .description('release a case from legal hold; prints { "reference", "released" }')
    .requiredOption('--reference <ref>', 'the case reference')
    .action(async (opts: { reference: string }) => {
      printJson(await withDatabase((db) => releaseLegalHold(db, opts.reference.trim().toUpperCase(), 'operator:cli')))
    })
}
