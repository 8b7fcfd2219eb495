import type { Queryable } from '../db/pool.js'
import type { InboundContact } from '../intake/inbound-contact.js'

/**
 * A number or mailbox residents contact: dedicated to one council, or the shared contact
 * centre of a partnership (`council` null). Field names are the operator CLI's JSON output.
 */
export interface InboundAddress {
  channel: InboundContact['channel']
  address: string
  partnership: string | null
  council: string | null
}

/**
 * Every inbound address, ordered by channel then address. Byte order (collate "C") rather
 * than the database's locale, so the list reads the same on every machine: a locale
 * collation skips the '+' of phone numbers and the punctuation of mailboxes.
 */
export async function listInboundAddresses(db: Queryable): Promise<InboundAddress[]> {
  const { rows } = await db.query<InboundAddress>(
    `select channel, address, partnership_id as partnership, council_gss as council
       from inbound_addresses
      order by channel collate "C", address collate "C"`
  )
  return rows
}
