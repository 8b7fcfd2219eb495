import type { Infra } from '../../infra.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { systemResolver } from './dns-resolver.js'
import { EmailStore } from './email-store.js'
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
    // as the web channel's batcher: at most a quarter of the pool stores mail at once, the
    // line bounded in length and in time (INTAKE_QUEUE_LIMIT, INTAKE_MAX_WAIT_MS)
    store: new EmailStore(infra.db, {
      maxInFlight: Math.max(1, Math.floor(infra.config.DATABASE_POOL_SIZE / 4)),
      maxBatch: 32,
      maxWaiting: infra.config.INTAKE_QUEUE_LIMIT,
      maxWaitMs: infra.config.INTAKE_MAX_WAIT_MS
    }),
    // read at each lookup, so a resolver set on infra after the routes are built is used
    resolver: ((name, rrtype) => (infra.mailResolver ?? (system ??= systemResolver()))(name, rrtype)) as DnsResolver
  }
}
