import type { Infra } from '../../infra.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { systemResolver } from './dns-resolver.js'
import { Mailboxes } from './mailboxes.js'
import type { ReceiveDeps } from './receive-email.js'
import type { DnsResolver } from './sender-auth.js'

declare module '../../infra.js' {
  interface Infra {
    /** DNS for checking senders (SPF, DKIM, DMARC); unset: the system's. Tests serve records from a table. */
    mailResolver?: DnsResolver
  }
}

// one per process, so its minute of cached answers is shared by the listener and the webhook
let system: DnsResolver | null = null

/** What taking mail in needs, the same for the SMTP listener and the HTTP webhook. */
export type EmailDeps = ReceiveDeps & { mailboxes: Mailboxes }

/** What taking mail in needs, made from what the process holds; the app makes it once (buildApp). */
export function emailDeps(infra: Infra): EmailDeps {
  const log = infra.log.child({ channel: 'email' })
  return {
    db: infra.db,
    catalogue: infra.catalogue,
    mailboxes: new Mailboxes(infra.catalogue, infra.config.EMAIL_DOMAIN),
    config: infra.config,
    log,
    relay: (row) => relayNow(infra.queues, row, log),
    pressure: infra.intakePressure,
    // read at each lookup, so a resolver set on infra after the routes are built is used
    resolver: ((name, rrtype) => (infra.mailResolver ?? (system ??= systemResolver()))(name, rrtype)) as DnsResolver
  }
}
