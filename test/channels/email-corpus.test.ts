import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { normaliseEmail } from '../../src/lib/contact-points.js'
import { projectRoot } from '../../src/lib/paths.js'
import { OPERATOR_KEY } from '../helpers/context.js'
import { createEmailContext, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'

// Every message of the real mail corpus, sent over SMTP to a demo mailbox, ends as
// index.json says: recognised as what it is, its sender and thread kept, its attachments
// kept, nothing lost, and the listener still answering afterwards. Corpus bounces and
// auto-replies answer mail we never sent, so they wait in quarantine; releasing them shows
// what intake made of them.

const CORPUS = join(projectRoot, 'test', 'fixtures', 'mail')

interface CorpusEntry {
  file: string
  kind: string
  expected: { auto_reply: boolean; bounce: boolean; list: boolean; has_attachments: boolean; from_address: string | null; in_reply_to: string | null }
}
const corpus = JSON.parse(readFileSync(join(CORPUS, 'index.json'), 'utf8')) as CorpusEntry[]

// the reasons receive-email.ts gives a supervisor in the quarantine list
const REASON = {
  bounce: 'a delivery failure report for no mail of ours',
  autoReply: 'an automatic reply not linked to any case',
  list: 'list or bulk mail not linked to any case',
  noSender: 'no usable sender address (From)'
}

/** Where the mail must wait for a person, or null when it must open a case straight away. */
function expectedQuarantine({ expected }: CorpusEntry): string | null {
  if (expected.bounce) return REASON.bounce
  if (expected.auto_reply) return REASON.autoReply
  if (expected.list) return REASON.list
  // an address we could never write back to (root@localhost) is no sender either
  if (expected.from_address === null || normaliseEmail(expected.from_address) === null) return REASON.noSender
  return null
}

/**
 * The bytes as SMTP carries them: every line ended by CRLF, the last one too. nodemailer
 * converts bare LF (and CR) as every MTA must; this is what a real relay hands over.
 */
function asSentBySmtp(raw: Buffer): Buffer {
  const text = raw.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n')
  return Buffer.from(text.endsWith('\r\n') ? text : `${text}\r\n`, 'latin1')
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const operator = { authorization: `Bearer ${OPERATOR_KEY}` }

let ctx: EmailContext
beforeAll(async () => {
  ctx = await createEmailContext()
})
afterAll(async () => {
  await ctx?.close()
})

interface StoredEmail {
  id: number
  state: string
  reason: string | null
  bytes: Buffer | null
  source: string
  envelope_from: string | null
}

/** What intake made of the mail with these bytes: the raw_inbound payload and the message. */
async function intakeOf(hash: string) {
  const rows = await ctx.query<{ payload: Record<string, unknown>; subject: string | null; attachments: number; intact: boolean }>(
    `select r.payload, m.subject,
            (select count(*)::int from message_media mm where mm.message_id = m.id) as attachments,
            -- each file is either stored with exactly the bytes it had, or refused with a reason
            (select coalesce(bool_and(case mm.state when 'stored' then mm.sha256 = encode(sha256(mm.content), 'hex') and mm.size_bytes = length(mm.content)
                                                    else mm.state = 'refused' and mm.detail is not null end), true)
               from message_media mm where mm.message_id = m.id) as intact
       from inbound_emails e join raw_inbound r on r.id = e.raw_inbound_id join messages m on m.raw_inbound_id = r.id
      where e.sha256 = $1`,
    [hash]
  )
  return rows
}

describe('the mail corpus over SMTP', () => {
  it('index.json lists every .eml file of the corpus', () => {
    const files = readdirSync(CORPUS).filter((f) => f.endsWith('.eml')).sort()
    expect(files.length).toBe(45)
    expect(corpus.map((e) => e.file).sort()).toEqual(files)
  })

  it.each(corpus)('$file ($kind)', async (entry) => {
    const raw = readFileSync(join(CORPUS, entry.file))
    const sent = asSentBySmtp(raw)
    // a delivery report comes from the null sender, as an MTA sends it
    const answer = await ctx.sendRaw(raw, { from: entry.expected.bounce ? '' : 'relay@example.org', to: [TRI_BOROUGH_MAILBOX] })
    expect(answer.response).toMatch(/^250 /)

    // nothing lost: exactly one record of these bytes, kept whole
    const stored = await ctx.query<StoredEmail>(`select id, state, reason, bytes, source, envelope_from from inbound_emails where sha256 = $1`, [sha256(sent)])
    expect(stored).toHaveLength(1)
    const row = stored[0]!
    expect(row.bytes?.equals(sent)).toBe(true)
    expect({ source: row.source, envelope_from: row.envelope_from }).toEqual({ source: 'smtp', envelope_from: entry.expected.bounce ? '' : 'relay@example.org' })

    const waits = expectedQuarantine(entry)
    if (waits) {
      expect({ state: row.state, reason: row.reason }).toEqual({ state: 'quarantined', reason: waits })
      expect(await intakeOf(sha256(sent))).toEqual([]) // on no case yet
      // a supervisor can still put it on a case: then it is read as any accepted mail
      const released = await ctx.app.inject({ method: 'POST', url: `/v1/admin/email/quarantine/${row.id}/release`, headers: operator })
      expect(released.statusCode, released.body).toBe(200)
      expect(released.json()).toMatchObject({ outcome: 'accepted', reference: expect.any(String) })
    } else {
      expect({ state: row.state, reason: row.reason }).toEqual({ state: 'accepted', reason: null })
    }

    const [taken] = await intakeOf(sha256(sent))
    expect(taken).toBeDefined()
    const payload = taken!.payload as { classification: Record<string, boolean>; from: { address: string } | null; inReplyTo: string | null }
    expect({
      auto_reply: payload.classification.autoReply,
      bounce: payload.classification.bounce,
      list: payload.classification.list,
      has_attachments: taken!.attachments > 0,
      from_address: payload.from?.address ?? null,
      in_reply_to: payload.inReplyTo
    }).toEqual(entry.expected)
    expect(taken!.intact).toBe(true)
    expect(taken!.subject ?? '').not.toMatch(/[\r\n\u0000]/)
  })

  it('still answers after the whole corpus, and logged no intake failure', async () => {
    const sent = await ctx.send({ from: 'after.corpus@example.org', to: TRI_BOROUGH_MAILBOX, subject: 'Still there?', text: 'Broken street light on Harrow Road W2 1AA.' })
    expect(sent.response).toMatch(/^250 /)
    expect(ctx.logs.filter((line) => /email intake failed|email parser failed/.test(line))).toEqual([])
  })
})
