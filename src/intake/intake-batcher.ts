import type { Queryable } from '../db/pool.js'
import { GroupCommit, type GroupCommitOptions } from './group-commit.js'
import type { InboundContact } from './inbound-contact.js'
import { intakeContact, intakeContacts, type IntakeResult } from './intake.js'

export type IntakeBatcherOptions = GroupCommitOptions

/**
 * Group commit for the contacts every channel but mail hands over (src/intake/group-commit.ts):
 * one contact alone (intakeContact) while a statement slot is free, the contacts that arrive
 * during a burst together in one statement (intakeContacts).
 */
export class IntakeBatcher extends GroupCommit<InboundContact, IntakeResult> {
  constructor(db: Queryable, opts: IntakeBatcherOptions) {
    super({ one: (c) => intakeContact(db, c), many: (cs) => intakeContacts(db, cs), lockKey }, opts)
  }
}

/** By resident, then message: the rows a contact locks are its resident's. */
function lockKey(c: InboundContact): string {
  return `${c.sender.email ?? ''}\u0000${c.sender.phone ?? ''}\u0000${c.provider}\u0000${c.providerMessageId}`
}
