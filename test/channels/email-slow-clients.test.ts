import { connect, type Socket } from 'node:net'
import nodemailer from 'nodemailer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emailDeps } from '../../src/channels/email/email-deps.js'
import { startSmtpListener, type SmtpListener } from '../../src/channels/email/smtp-listener.js'
import { createEmailContext, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'

// Slow SMTP clients cannot lock out mail (issue 20, point 7): 200 sessions trickling one
// byte every 2 s filled SMTP_MAX_CLIENTS and everyone else got 421. Real sockets against
// the real listener; clients on other loopback addresses (127.0.0.2 …) are other hosts.

let ctx: EmailContext
beforeAll(async () => {
  ctx = await createEmailContext()
})
afterAll(async () => {
  await ctx?.close()
})

interface Session {
  socket: Socket
  /** the first line the server said: 220 (welcome) or 421 (refused) */
  greeting: Promise<string>
  /** everything the server said so far */
  said(): string
  /** resolves with the time (performance.now()) the connection closed */
  closed: Promise<number>
}

function open(port: number, localAddress: string): Session {
  const socket = connect({ host: '127.0.0.1', port, localAddress })
  let text = ''
  const greeting = new Promise<string>((resolve) => {
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1')
      if (text.includes('\n')) resolve(text.slice(0, 3))
    })
    socket.on('close', () => resolve(text.slice(0, 3) || 'closed'))
  })
  socket.on('error', () => {})
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now())))
  return { socket, greeting, said: () => text, closed }
}

/** Writes `line` one byte every `everyMs` until the socket closes; resolves with the time of the first byte. */
function trickle(s: Session, line: string, everyMs: number): number {
  let i = 0
  const write = () => {
    if (s.socket.destroyed || s.socket.writableEnded) return
    s.socket.write(line[i++ % line.length]!)
    setTimeout(write, everyMs)
  }
  const first = performance.now()
  write()
  return first
}

function sendFrom(port: number, localAddress: string) {
  const client = nodemailer.createTransport({ host: '127.0.0.1', port, localAddress, ignoreTLS: true })
  return client
    .sendMail({ from: `good.${Date.now()}@example.org`, to: TRI_BOROUGH_MAILBOX, subject: 'Bins', text: 'Bin not collected at W2 1AA.' })
    .finally(() => client.close())
}

async function listener(settings: Record<string, number>): Promise<SmtpListener> {
  return startSmtpListener(emailDeps(ctx.infra), { ...ctx.config, SMTP_PORT: 0, ...settings })
}

const attackers = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']

describe('with the default limits', () => {
  it('four addresses holding every session they may cannot keep a fifth from sending', async () => {
    const smtp = await listener({})
    const perAddress = ctx.config.SMTP_MAX_CLIENTS_PER_ADDRESS
    const sessions = attackers.flatMap((address) => Array.from({ length: perAddress + 1 }, () => open(smtp.port, address)))
    try {
      const greetings = await Promise.all(sessions.map((s) => s.greeting))
      // each address gets its share and no more, whatever SMTP_MAX_CLIENTS is
      expect(greetings.filter((g) => g === '220')).toHaveLength(attackers.length * perAddress)
      expect(greetings.filter((g) => g === '421')).toHaveLength(attackers.length)
      expect(attackers.length * perAddress).toBeLessThan(ctx.config.SMTP_MAX_CLIENTS)
      // while they are all held open, someone else's mail goes through
      expect((await sendFrom(smtp.port, '127.0.0.9')).response).toMatch(/^250 /)
    } finally {
      for (const s of sessions) s.socket.destroy()
      await smtp.close()
    }
  })
})

describe('with short limits', () => {
  const COMMAND_S = 1
  const SESSION_S = 3
  const SLACK_MS = 1_500

  it('cuts a session whose command trickles in, within the command limit, and serves others meanwhile', async () => {
    const smtp = await listener({ SMTP_COMMAND_TIMEOUT_S: COMMAND_S, SMTP_SESSION_TIMEOUT_S: 60, SMTP_MAX_CLIENTS: 10, SMTP_MAX_CLIENTS_PER_ADDRESS: 2 })
    const held = attackers.flatMap((address) => [open(smtp.port, address), open(smtp.port, address)])
    const refused = attackers.map((address) => open(smtp.port, address))
    const sessions = [...held, ...refused]
    try {
      expect(await Promise.all(held.map((s) => s.greeting))).toEqual(held.map(() => '220'))
      // a third from each address is one too many
      expect(await Promise.all(refused.map((s) => s.greeting))).toEqual(refused.map(() => '421'))
      // one byte of "EHLO …" every 300 ms: each byte alone would keep an idle timeout at bay
      const started = held.map((s) => trickle(s, 'EHLO trickle.example\r\n', 300))
      // the two slots left serve a well-behaved client from another address at once
      expect((await sendFrom(smtp.port, '127.0.0.9')).response).toMatch(/^250 /)
      const closedAt = await Promise.all(held.map((s) => s.closed))
      closedAt.forEach((at, i) => expect(at - started[i]!).toBeLessThan(COMMAND_S * 1000 + SLACK_MS))
      for (const s of held) expect(s.said()).toMatch(/^421 .*command took too long/m)
    } finally {
      for (const s of sessions) s.socket.destroy()
      await smtp.close()
    }
  })

  it('ends a session at SMTP_SESSION_TIMEOUT_S however briskly its commands come', async () => {
    const smtp = await listener({ SMTP_COMMAND_TIMEOUT_S: COMMAND_S, SMTP_SESSION_TIMEOUT_S: SESSION_S })
    const s = open(smtp.port, '127.0.0.6')
    try {
      expect(await s.greeting).toBe('220')
      const connected = performance.now()
      // a whole NOOP every 400 ms: never idle, never a slow line
      const timer = setInterval(() => s.socket.writable && s.socket.write('NOOP\r\n'), 400)
      const closedAt = await s.closed
      clearInterval(timer)
      expect(closedAt - connected).toBeGreaterThan(SESSION_S * 1000 - 500)
      expect(closedAt - connected).toBeLessThan(SESSION_S * 1000 + SLACK_MS)
      expect(s.said()).toMatch(/^421 .*Session time limit/m)
    } finally {
      s.socket.destroy()
      await smtp.close()
    }
  })
})
