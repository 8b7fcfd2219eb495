import { Command, CommanderError } from 'commander'
import { registerAgentCommands } from './agents.js'
import { registerApiKeyCommands } from './api-keys.js'
import { registerCannedReplyCommands } from './canned-replies.js'
import { registerCaseCommands } from './cases.js'
import { registerChannelCommands } from './channels.js'
import { registerResidentCommands } from './residents.js'
import { registerRetentionCommands } from './retention.js'

/**
 * The operator CLI: `npm run cli -- <group> <command>`. stdout carries only a command's
 * result; everything else goes to stderr. Exit codes: 0 done, 1 failed (one line on stderr),
 * 2 usage error. A command fails by throwing (a ConfigError's message is already the line an
 * operator reads); it refuses its arguments with `command.error(...)`, which exits 2.
 */
function buildProgram(): Command {
  const program = new Command('switchboard')
    .description('Switchboard operator commands (run them as: npm run cli -- <command>)')
    // Settings first: `.command()` copies them to each command created after this point.
    // Throwing instead of exiting lets main() map usage errors to exit code 2.
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`switchboard: ${text.replace(/^error: /, '')}`) })
    .showHelpAfterError('(add --help for usage)')
  // one module per command group
  registerChannelCommands(program)
  registerApiKeyCommands(program)
  registerAgentCommands(program)
  registerCannedReplyCommands(program)
  registerResidentCommands(program)
  registerCaseCommands(program)
  registerRetentionCommands(program)
  return program
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv)
    return 0
  } catch (err) {
    // commander has already written its help or its message: only the exit code is left
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2
    const message = err instanceof Error ? err.message || err.name : String(err)
    process.stderr.write(`switchboard: ${message.replace(/\s*\n\s*/g, ' ')}\n`)
    return 1
  }
}

// exitCode rather than exit(): stdout is flushed and every connection is already closed
process.exitCode = await main(process.argv)
