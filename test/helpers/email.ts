import nodemailer from 'nodemailer'
import type Mail from 'nodemailer/lib/mailer/index.js'
import { emailDeps } from '../../src/channels/email/email-deps.js'
import { startSmtpListener, type SmtpListener } from '../../src/channels/email/smtp-listener.js'
import { createTestContext, type TestContext } from './context.js'

/** Demo mailboxes (seeds/reference.json). */
export const TRI_BOROUGH_MAILBOX = 'contact@tri-borough.switchboard.example'
export const HINCKLEY_MAILBOX = 'hinckley@leicestershire.switchboard.example'
export const LEICESTERSHIRE_MAILBOX = 'contact@leicestershire.switchboard.example'
export const EMAIL_DOMAIN = 'replies.switchboard.test'

export interface EmailContext extends TestContext {
  smtp: SmtpListener
  /** sends over real SMTP to our listener; resolves with the server's answer or rejects with it */
  send(message: Mail.Options): Promise<{ response: string }>
  /** sends raw bytes as one message over SMTP, with this envelope */
  sendRaw(raw: string | Buffer, envelope?: { from?: string; to?: string[] }): Promise<{ response: string }>
}

/** A test context with our SMTP listener on a free port, and a real SMTP client for it. */
export async function createEmailContext(overrides: Record<string, unknown> = {}, opts: { workers?: boolean } = {}): Promise<EmailContext> {
  const ctx = await createTestContext({ EMAIL_DOMAIN, SMTP_PORT: 0, HOST: '127.0.0.1', ...overrides }, opts)
  const smtp = await startSmtpListener(emailDeps(ctx.infra), ctx.config)
  const client = nodemailer.createTransport({ host: '127.0.0.1', port: smtp.port, secure: false, ignoreTLS: true, pool: false })
  const close = ctx.close
  return Object.assign(ctx, {
    smtp,
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
