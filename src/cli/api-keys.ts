import { InvalidArgumentError, type Command } from 'commander'
import { API_KEY_SCOPES, createApiKey, listApiKeys, revokeApiKey, type ApiKeyScope } from '../councils/api-keys.js'
import { printJson, withDatabase } from './database.js'

function scopesOf(value: string): ApiKeyScope[] {
  const scopes = value.split(',').map((s) => s.trim()).filter(Boolean)
  const bad = scopes.filter((s) => !(API_KEY_SCOPES as readonly string[]).includes(s))
  if (!scopes.length || bad.length) throw new InvalidArgumentError(`scopes are a comma-separated list of ${API_KEY_SCOPES.join(', ')}${bad.length ? ` (not: ${bad.join(', ')})` : ''}`)
  return scopes as ApiKeyScope[]
}

/** `api-key ...`: keys for council systems (and partnership operators). */
export function registerApiKeyCommands(program: Command): void {
  const keys = program.command('api-key').description('API keys for council systems: create (shown once), list, revoke')

  keys
    .command('create')
    .description('make a key for one council (--council GSS) or one partnership (--partnership id); prints the key alone on stdout')
    .option('--council <gss>', "the council's GSS code, e.g. E09000033")
    .option('--partnership <id>', 'a partnership id, for its operators: all its member councils')
    .requiredOption('--scopes <list>', `comma-separated: ${API_KEY_SCOPES.join(', ')}`, scopesOf)
    .option('--label <text>', 'what the key is for, shown by list')
    .action(async (opts: { council?: string; partnership?: string; scopes: ApiKeyScope[]; label?: string }, command: Command) => {
      if (Boolean(opts.council) === Boolean(opts.partnership)) command.error('give exactly one of --council or --partnership')
      const made = await withDatabase(async (db) => {
        const owner = opts.council
          ? await db.query('select 1 from councils where gss = $1', [opts.council])
          : await db.query('select 1 from partnerships where id = $1', [opts.partnership])
        if (!owner.rows.length) throw new Error(opts.council ? `no council with GSS code ${opts.council}` : `no partnership ${opts.partnership}`)
        return createApiKey(db, { council: opts.council ?? null, partnership: opts.partnership ?? null }, opts.scopes, opts.label ?? null)
      })
      process.stderr.write(`created key ${made.id} (${made.prefix}…): store it now, it is not shown again\n`)
      process.stdout.write(`${made.key}\n`)
    })

  keys
    .command('list')
    .description('print every key as JSON (never the key itself: its prefix)')
    .action(async () => {
      printJson(await withDatabase(listApiKeys))
    })

  keys
    .command('revoke')
    .description('revoke a key by its id or prefix')
    .argument('<id-or-prefix>')
    .action(async (idOrPrefix: string) => {
      const done = await withDatabase((db) => revokeApiKey(db, idOrPrefix))
      if (!done) throw new Error(`no live key ${idOrPrefix}`)
      printJson({ revoked: idOrPrefix })
    })
}
