import { InvalidArgumentError, Option, type Command } from 'commander'
import { AGENT_ROLES, createAgent, setAgentActive } from '../agents/accounts.js'
import type { AgentRole } from '../agents/tokens.js'
import { printJson, withDatabase } from './database.js'

function capacityOf(value: string): number {
  const n = Number(value)
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 100) throw new InvalidArgumentError('the capacity is a whole number from 1 to 100')
  return n
}

function teamsOf(value: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean)
  if (!names.length) throw new InvalidArgumentError('give team names separated by commas')
  return names
}

/** `agent ...`: contact-centre agents' accounts. */
export function registerAgentCommands(program: Command): void {
  const agents = program.command('agent').description("contact-centre agents' accounts")

  agents
    .command('create')
    .description('open an account with a one-time password; prints { "id", "password" } as JSON on stdout, the password shown this once')
    .requiredOption('--partnership <id>', 'the partnership the agent works for, e.g. tri-borough')
    .requiredOption('--email <address>', 'the address the agent logs in with')
    .addOption(new Option('--role <role>', 'what the agent may do').choices(AGENT_ROLES).makeOptionMandatory())
    .option('--capacity <n>', 'open cases at once, 1 to 100 (default 5)', capacityOf)
    .option('--name <text>', 'the name colleagues see')
    .option('--teams <list>', "comma-separated team names (default: the partnership's 'Contact centre' team)", teamsOf)
    .action(async (opts: { partnership: string; email: string; role: AgentRole; capacity?: number; name?: string; teams?: string[] }) => {
      const made = await withDatabase((db) =>
        createAgent(db, { partnership: opts.partnership, email: opts.email, role: opts.role, capacity: opts.capacity, displayName: opts.name ?? null, teams: opts.teams })
      )
      printJson({ id: made.id, password: made.password })
    })

  for (const [name, active] of [['disable', false], ['enable', true]] as const) {
    agents
      .command(name)
      .description(
        active
          ? 'let a disabled agent log in again (tokens from before the disable stay refused); prints { "id", "active" }'
          : 'stop an agent at once: no login, and their tokens and live sockets refused within AGENT_REVOCATION_S; prints { "id", "active" }'
      )
      .argument('<id-or-email>', "the agent's id or login email")
      .action(async (who: string) => {
        const done = await withDatabase((db) => setAgentActive(db, who, active))
        if (!done) throw new Error(`no agent ${who}`)
        printJson(done)
      })
  }
}
