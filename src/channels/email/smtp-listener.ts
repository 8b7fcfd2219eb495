import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server'
import type { Config } from '../../config.js'
import { AppError, isTransientInfraError } from '../../errors.js'
import type { Mailboxes, OurRecipient } from './mailboxes.js'
import { receiveEmail, type ReceiveDeps } from './receive-email.js'
import { SmtpSessionGuard } from './smtp-session-guard.js'

export interface SmtpListener {
  /** the port it listens on (SMTP_PORT, or the one the system chose for 0) */
  port: number
  close(): Promise<void>
}

type SmtpError = Error & { responseCode: number }
const smtpError = (code: number, message: string): SmtpError => Object.assign(new Error(message), { responseCode: code })

/**
 * Our own SMTP listener (smtp-server), for mail sent straight to the councils' addresses.
 * It takes mail for our addresses only (550 otherwise), refuses what is too big before
 * reading it into anything (552), and answers 250 only once the message is committed to
 * Postgres; when it cannot be, 451, so the sending server keeps it and tries again. Slow
 * clients cannot hold its sessions: each line must arrive within SMTP_COMMAND_TIMEOUT_S and
 * a session lasts at most SMTP_SESSION_TIMEOUT_S (421 past either), and one address holds
 * at most SMTP_MAX_CLIENTS_PER_ADDRESS sessions.
 */
export async function startSmtpListener(
  deps: ReceiveDeps & { mailboxes: Mailboxes },
  config: Pick<
    Config,
    | 'HOST'
    | 'SMTP_PORT'
    | 'SMTP_TLS_CERT_FILE'
    | 'SMTP_TLS_KEY_FILE'
    | 'SMTP_MAX_CLIENTS'
    | 'SMTP_MAX_CLIENTS_PER_ADDRESS'
    | 'SMTP_MAX_RECIPIENTS'
    | 'SMTP_COMMAND_TIMEOUT_S'
    | 'SMTP_SESSION_TIMEOUT_S'
    | 'EMAIL_MAX_BYTES'
    | 'SHUTDOWN_TIMEOUT_MS'
  >
): Promise<SmtpListener> {
  const tls = config.SMTP_TLS_CERT_FILE && config.SMTP_TLS_KEY_FILE ? { cert: readFileSync(config.SMTP_TLS_CERT_FILE), key: readFileSync(config.SMTP_TLS_KEY_FILE) } : null
  const perAddress = new Map<string, number>()
  // a session is a contact in hand from connect to close, as a web request is: this
  // process's routing holds new cases back while many are (workers/give-way.ts)
  const inHand = new WeakMap<SMTPServerSession, () => void>()
  // recipients accepted per session, with what they are (smtp-server keeps only the address)
  const accepted = new WeakMap<SMTPServerSession, OurRecipient[]>()

  const server = new SMTPServer({
    name: deps.config.EMAIL_DOMAIN,
    banner: 'Switchboard mail intake',
    authOptional: true,
    disabledCommands: tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(tls ?? {}),
    size: config.EMAIL_MAX_BYTES,
    maxClients: config.SMTP_MAX_CLIENTS,
    // silence while the client owes us a command; trickled bytes are bounded by the guard below
    socketTimeout: config.SMTP_COMMAND_TIMEOUT_S * 1000,
    closeTimeout: config.SHUTDOWN_TIMEOUT_MS,
    // smtp-server's own logger would write addresses and subjects: personal data
    logger: false,
    // a PTR lookup per connection only decorates smtp-server's logs, which are off
    disableReverseLookup: true,

    onConnect(session, callback) {
      const n = (perAddress.get(session.remoteAddress) ?? 0) + 1
      if (n > config.SMTP_MAX_CLIENTS_PER_ADDRESS) return callback(smtpError(421, 'Too many connections from your address, try again later'))
      perAddress.set(session.remoteAddress, n)
      inHand.set(session, deps.pressure.begin())
      guard.start(session)
      callback()
    },
    onSecure(socket, session, callback) {
      guard.secured(socket, session)
      callback()
    },
    onClose(session) {
      const done = inHand.get(session)
      if (!done) return // refused at connect: never counted
      guard.end(session)
      done()
      inHand.delete(session)
      const n = (perAddress.get(session.remoteAddress) ?? 1) - 1
      if (n <= 0) perAddress.delete(session.remoteAddress)
      else perAddress.set(session.remoteAddress, n)
    },

    onRcptTo(address, session, callback) {
      const list = accepted.get(session) ?? []
      if (list.length >= config.SMTP_MAX_RECIPIENTS) return callback(smtpError(452, 'Too many recipients'))
      const ours = deps.mailboxes.recognise(address.address)
      if (!ours) return callback(smtpError(550, 'No such mailbox here'))
      const accept = () => {
        accepted.set(session, [...list, ours])
        callback()
      }
      if (ours.kind === 'mailbox') return accept()
      deps.mailboxes.replyTokenKnown(deps.db, ours.token).then(
        (known) => (known ? accept() : callback(smtpError(550, 'No such mailbox here'))),
        () => callback(smtpError(451, 'Temporary failure, try again later'))
      )
    },

    onData(stream, session, callback) {
      guard.busy(session, true)
      readMessage(stream)
        .then(async (raw) => {
          // over the limit: the rest was never read into memory, nothing is parsed
          if (stream.sizeExceeded) throw smtpError(552, 'Message exceeds the maximum size')
          const recipients = accepted.get(session) ?? []
          accepted.delete(session)
          const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : null
          const client = { ip: session.remoteAddress, helo: session.hostNameAppearsAs || null }
          const result = await receiveEmail(deps, { raw, source: 'smtp', envelopeFrom, recipients, client })
          const said = result.outcome === 'accepted' ? `Accepted as ${result.reference}` : result.outcome === 'duplicate' ? 'Already received' : 'Accepted for review'
          callback(null, said)
        })
        .catch((err: unknown) => {
          if ((err as SmtpError).responseCode) return callback(err as SmtpError)
          if (err instanceof AppError && err.code === 'temporarily_unavailable') deps.log.warn('mail arriving faster than it can be stored; answered 451')
          else if (!isTransientInfraError(err)) deps.log.error({ err }, 'email intake failed; answered 451')
          else deps.log.warn({ err }, 'database unavailable; email answered 451')
          // whatever went wrong, the sender keeps the message and tries again
          callback(smtpError(451, 'Temporary failure, try again later'))
        })
        .finally(() => guard.busy(session, false))
    }
  })
  const guard = new SmtpSessionGuard(server, { commandMs: config.SMTP_COMMAND_TIMEOUT_S * 1000, sessionMs: config.SMTP_SESSION_TIMEOUT_S * 1000 })
  server.on('error', (err) => deps.log.warn({ err }, 'SMTP listener error'))

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(config.SMTP_PORT, config.HOST, () => {
      server.server.off('error', reject)
      resolve()
    })
  })
  const port = (server.server.address() as AddressInfo).port
  deps.log.info({ port, starttls: Boolean(tls) }, 'SMTP listener ready')
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** The message's bytes; past the size limit smtp-server stops passing them on. */
function readMessage(stream: SMTPServerDataStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (chunk: Buffer) => {
      if (!stream.sizeExceeded) chunks.push(chunk)
    })
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
}
