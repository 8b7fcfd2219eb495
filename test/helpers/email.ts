import nodemailer from 'nodemailer'
import type Mail from 'nodemailer/lib/mailer/index.js'
import { emailDeps } from '../../src/channels/email/email-deps.js'
import type { DnsResolver } from '../../src/channels/email/sender-auth.js'
import { startSmtpListener, type SmtpListener } from '../../src/channels/email/smtp-listener.js'
import { createTestContext, waitFor, type TestContext } from './context.js'

/** Demo mailboxes (seeds/reference.json). */
export const TRI_BOROUGH_MAILBOX = 'contact@tri-borough.switchboard.example'
export const HINCKLEY_MAILBOX = 'hinckley@leicestershire.switchboard.example'
export const LEICESTERSHIRE_MAILBOX = 'contact@leicestershire.switchboard.example'
export const EMAIL_DOMAIN = 'replies.switchboard.test'

/** SPF that lets our test clients (127.0.0.1) send for a domain. */
export const SPF_LOCALHOST = 'v=spf1 ip4:127.0.0.1 -all'

/**
 * DNS as the sender checks (SPF, DKIM, DMARC) see it in tests: records kept in a map by
 * `TYPE name` (e.g. `TXT example.org`, a TXT answer being its strings in chunks), every
 * other name answered ENOTFOUND. The test senders' domains publish SPF for 127.0.0.1 and no
 * DMARC record, so mail the tests send passes as a resident's own mail would.
 */
export function dnsTable(): { records: Map<string, unknown>; txt(name: string, ...values: string[]): void; resolver: DnsResolver } {
  const records = new Map<string, unknown>()
  const txt = (name: string, ...values: string[]) => records.set(`TXT ${name}`, values.map((v) => [v]))
  for (const domain of ['example.org', 'example.com', 'example.net']) txt(domain, SPF_LOCALHOST)
  const resolver = (async (name: string, rrtype: string) => {
    const answer = records.get(`${rrtype} ${name.toLowerCase()}`)
    if (answer === undefined) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' })
    return answer
  }) as DnsResolver
  return { records, txt, resolver }
}

/** True when no mail queued to this address still waits to be handed to the relay. */
export async function noMailPendingTo(ctx: TestContext, address: string): Promise<boolean> {
  const rows = await ctx.query(`select 1 from messages where direction = 'outbound' and channel = 'email' and lower(recipient) = lower($1) and status = 'pending' limit 1`, [address])
  return rows.length === 0
}

/**
 * Waits until every mail queued to this address has been handed to the relay (or failed).
 * Any answer to a mail is queued in the transaction that takes the mail in, before our SMTP
 * server replies 250: after that reply, once this resolves, the relay holds it if there is one.
 */
export async function mailSettledTo(ctx: TestContext, address: string): Promise<void> {
  await waitFor(() => noMailPendingTo(ctx, address), 10_000, `the mail queued to ${address} to be sent`)
}

export interface EmailContext extends TestContext {
  smtp: SmtpListener
  /** sends over real SMTP to our listener; resolves with the server's answer or rejects with it */
  send(message: Mail.Options): Promise<{ response: string }>
  /** sends raw bytes as one message over SMTP, with this envelope */
  sendRaw(raw: string | Buffer, envelope?: { from?: string; to?: string[] }): Promise<{ response: string }>
  /** the DNS the sender checks see (dnsTable): add records with dns.txt(name, value) */
  dns: ReturnType<typeof dnsTable>
}

/** A test context with our SMTP listener on a free port, and a real SMTP client for it. */
export async function createEmailContext(overrides: Record<string, unknown> = {}, opts: { workers?: boolean } = {}): Promise<EmailContext> {
  const ctx = await createTestContext({ EMAIL_DOMAIN, SMTP_PORT: 0, HOST: '127.0.0.1', ...overrides }, opts)
  const dns = dnsTable()
  ctx.infra.mailResolver = dns.resolver
  const smtp = await startSmtpListener(emailDeps(ctx.infra), ctx.config)
  const client = nodemailer.createTransport({ host: '127.0.0.1', port: smtp.port, secure: false, ignoreTLS: true, pool: false })
  const close = ctx.close
  return Object.assign(ctx, {
    smtp,
    dns,
    send: (message: Mail.Options) => client.sendMail(message),
    sendRaw: (raw: string | Buffer, envelope: { from?: string; to?: string[] } = {}) =>
      client.sendMail({ envelope: { from: envelope.from ?? 'sender@example.org', to: envelope.to ?? [TRI_BOROUGH_MAILBOX] }, raw }),
    async close() {
      client.close()
      await smtp.close()
      await close()
    }
  })
}
