import { InvalidArgumentError, type Command } from 'commander'
import { createCanned, deleteCanned, listCanned, VARIABLES } from '../agents/canned-replies.js'
import { printJson, withDatabase } from './database.js'

function idOf(value: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(value)) throw new InvalidArgumentError('give the canned reply id (a whole number)')
  return Number(value)
}

/** `canned ...`: a partnership's canned replies (supervisors manage them in the API too). */
export function registerCannedReplyCommands(program: Command): void {
  const canned = program.command('canned').description("a partnership's canned replies for agents: list, add, remove")

  canned
    .command('list')
    .description('prints the partnership\'s canned replies as JSON, variables unfilled')
    .requiredOption('--partnership <id>', 'e.g. tri-borough')
    .action(async (opts: { partnership: string }) => printJson(await withDatabase((db) => listCanned(db, opts.partnership))))

  canned
    .command('add')
    .description(`add one; the body may use ${VARIABLES.map((v) => `{{${v}}}`).join(', ')}; prints it as JSON`)
    .requiredOption('--partnership <id>', 'e.g. tri-borough')
    .requiredOption('--title <text>', 'what agents pick it by (up to 80 characters)')
    .requiredOption('--body <text>', 'the text (up to 1,600 characters)')
    .option('--team <id>', "one team's cases only (its id); default: the whole partnership", idOf)
    .action(async (opts: { partnership: string; title: string; body: string; team?: number }) =>
      printJson(await withDatabase((db) => createCanned(db, opts.partnership, { title: opts.title, body: opts.body, team_id: opts.team ?? null }, 'operator:cli')))
    )

  canned
    .command('remove')
    .description('remove one; prints { "id", "removed" }')
    .argument('<id>', 'the canned reply id', idOf)
    .requiredOption('--partnership <id>', 'the partnership it belongs to')
    .action(async (id: number, opts: { partnership: string }) => {
      const removed = await withDatabase((db) => deleteCanned(db, opts.partnership, id))
      if (!removed) throw new Error(`no canned reply ${id} in ${opts.partnership}`)
      printJson({ id, removed })
    })
}
