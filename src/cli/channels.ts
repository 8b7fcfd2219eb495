import type { Command } from 'commander'
import { listInboundAddresses } from '../channels/inbound-addresses.js'
import { printJson, withDatabase } from './database.js'

/** `channels ...`: the numbers and mailboxes residents contact. */
export function registerChannelCommands(program: Command): void {
  const channels = program.command('channels').description('the inbound numbers and addresses residents contact')

  channels
    .command('list')
    .description('print every inbound number and address as JSON: channel, address, partnership, council (null where absent)')
    .action(async () => {
      printJson(await withDatabase(listInboundAddresses))
    })
}
