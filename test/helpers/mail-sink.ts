import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

export interface MailSink {
  /** smtp://127.0.0.1:<port>, for SMTP_URL */
  url: string
  /** envelope recipients of every message accepted so far */
  recipients: string[]
  /** every message accepted so far, as sent */
  messages: { from: string; to: string[]; raw: Buffer }[]
  /** SMTP connections opened to it so far */
  connections(): number
  /** answers the next `n` messages 451 (mailbox busy, try again later) instead of taking them */
  refuseNext(n: number): void
  close(): Promise<void>
}

/**
 * A real SMTP server on 127.0.0.1 that accepts every message: the team mailboxes of the
 * demo councils, for tests that need deliveries to be really sent (the demo transport
 * only keeps them).
 */
export async function startMailSink(): Promise<MailSink> {
  const recipients: string[] = []
  const messages: MailSink['messages'] = []
  let connections = 0
  let refusals = 0
  const server = new SMTPServer({
    authOptional: true,
    onConnect(_session, callback) {
      connections++
      callback()
    },
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        if (refusals > 0) {
          refusals--
          callback(Object.assign(new Error('Mailbox busy, try again later'), { responseCode: 451 }))
          return
        }
        const to = session.envelope.rcptTo.map((r) => r.address)
        recipients.push(...to)
        messages.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to, raw: Buffer.concat(chunks) })
        callback()
      })
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server.server, 'listening')
  const port = (server.server.address() as AddressInfo).port
  return {
    url: `smtp://127.0.0.1:${port}`,
    recipients,
    messages,
    connections: () => connections,
    refuseNext: (n) => {
      refusals += n
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
