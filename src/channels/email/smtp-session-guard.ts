import type { Socket } from 'node:net'
import type { SMTPServer, SMTPServerSession } from 'smtp-server'

type Connection = SMTPServer['connections'] extends Set<infer C> ? C : never

interface Watched {
  connection: Connection
  socket: Socket
  onData: (chunk: Buffer) => void
  /** a line has begun and not ended: its deadline */
  lineTimer: NodeJS.Timeout | null
  sessionTimer: NodeJS.Timeout
  /** our onData handler is deciding on a message: the session ends once it has answered */
  busy: boolean
  expired: boolean
}

/**
 * Time limits smtp-server does not have. Its idle timeout (socketTimeout) restarts with
 * every byte, so a client trickling one byte every few seconds held a session (and a slot
 * of SMTP_MAX_CLIENTS) for as long as it liked. Here each line a client sends must arrive
 * whole within `commandMs` of its first byte, and a session lasts at most `sessionMs` from
 * connect; either way the client gets 421 and the connection is closed.
 *
 * Written by hand because neither smtp-server nor another maintained package bounds a line;
 * it only watches the bytes smtp-server reads (a second 'data' listener) and closes through
 * smtp-server's own `send(421)`, so the protocol stays smtp-server's.
 */
export class SmtpSessionGuard {
  private readonly watched = new Map<SMTPServerSession, Watched>()

  constructor(
    private readonly server: SMTPServer,
    private readonly limits: { commandMs: number; sessionMs: number }
  ) {}

  /** From onConnect: the session is accepted, its clocks start. */
  start(session: SMTPServerSession): void {
    let connection: Connection | undefined
    for (const c of this.server.connections) if (c.session === session) connection = c
    if (!connection) return
    const w: Watched = {
      connection,
      socket: connection._socket,
      onData: (chunk) => this.sawBytes(w, chunk),
      lineTimer: null,
      sessionTimer: setTimeout(() => this.sessionOver(w), this.limits.sessionMs),
      busy: false,
      expired: false
    }
    w.sessionTimer.unref()
    w.socket.on('data', w.onData)
    this.watched.set(session, w)
  }

  /** From onSecure: after STARTTLS the lines travel in the TLS socket (smtp-server dropped the raw socket's listeners). */
  secured(socket: Socket, session: SMTPServerSession): void {
    const w = this.watched.get(session)
    if (!w || w.socket === socket) return
    w.socket.off('data', w.onData)
    this.clearLine(w)
    w.socket = socket
    socket.on('data', w.onData)
  }

  /** Around the handling of a message: a session is never cut while its message is being committed. */
  busy(session: SMTPServerSession, busy: boolean): void {
    const w = this.watched.get(session)
    if (!w) return
    w.busy = busy
    // the answer to the message is written first, then the session ends
    if (!busy && w.expired) setImmediate(() => this.cut(w, 'Session time limit reached - closing connection'))
  }

  /** From onClose. */
  end(session: SMTPServerSession): void {
    const w = this.watched.get(session)
    if (!w) return
    this.watched.delete(session)
    clearTimeout(w.sessionTimer)
    this.clearLine(w)
    w.socket.off('data', w.onData)
  }

  private sawBytes(w: Watched, chunk: Buffer): void {
    const lastLf = chunk.lastIndexOf(0x0a)
    if (lastLf === chunk.length - 1) return this.clearLine(w)
    // a line is open: the deadline runs from its first byte, and a new line starts it anew
    if (lastLf >= 0 || !w.lineTimer) {
      this.clearLine(w)
      w.lineTimer = setTimeout(() => this.lineOver(w), this.limits.commandMs)
      w.lineTimer.unref()
    }
  }

  private lineOver(w: Watched): void {
    w.lineTimer = null
    if (w.busy) w.expired = true
    else this.cut(w, 'Timeout: a command took too long to arrive - closing connection')
  }

  private sessionOver(w: Watched): void {
    if (w.busy) w.expired = true
    else this.cut(w, 'Session time limit reached - closing connection')
  }

  private cut(w: Watched, why: string): void {
    this.clearLine(w)
    clearTimeout(w.sessionTimer)
    // 421 closes the connection (smtp-server ends the socket, and destroys it soon after)
    w.connection.send(421, why)
  }

  private clearLine(w: Watched): void {
    if (w.lineTimer) clearTimeout(w.lineTimer)
    w.lineTimer = null
  }
}
