import type { Infra } from '../../infra.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { Mailboxes } from './mailboxes.js'
import type { ReceiveDeps } from './receive-email.js'

/** What taking mail in needs, the same for the SMTP listener and the HTTP webhook. */
export function emailDeps(infra: Infra): ReceiveDeps & { mailboxes: Mailboxes } {
  const log = infra.log.child({ channel: 'email' })
  return {
    db: infra.db,
    catalogue: infra.catalogue,
    mailboxes: new Mailboxes(infra.catalogue, infra.config.EMAIL_DOMAIN),
    config: infra.config,
    log,
    relay: (row) => relayNow(infra.queues, row, log),
    pressure: infra.intakePressure
  }
}
