import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { attachmentRefusal, safeFilename } from '../../src/channels/email/attachments.js'
import { sanitiseHtml } from '../../src/channels/email/html.js'
import { MailParseError, parseMail, type ParseOptions } from '../../src/channels/email/parse-mail.js'
import { projectRoot } from '../../src/lib/paths.js'

// Inbound mail is read before anything else knows about it: threading ids, who wrote it,
// whether it is a person at all, and which files may be kept. The corpus is real mail from
// public helpdesk and bounce-parser fixtures; index.json says what a correct parser concludes.

const CORPUS = join(projectRoot, 'test', 'fixtures', 'mail')

interface CorpusEntry {
  file: string
  expected: { auto_reply: boolean; bounce: boolean; list: boolean; has_attachments: boolean; from_address: string | null; in_reply_to: string | null }
}
const corpus = JSON.parse(readFileSync(join(CORPUS, 'index.json'), 'utf8')) as CorpusEntry[]

const OPTS: ParseOptions = { ourDomains: ['mail.switchboard.example'], maxAttachments: 50, maxAttachmentBytes: 10 * 1024 * 1024 }
const parseFile = (file: string, opts: ParseOptions = OPTS) => parseMail(readFileSync(join(CORPUS, file)), opts)

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n')
const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(120)])
const EXE = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200)])
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')

interface Part {
  headers: string[]
  body: string
}

/** A raw message built by hand, CRLF line ends, so every byte a test depends on is visible. */
function rawMail(headers: string[], body: string): Buffer {
  return Buffer.from([...headers, '', body].join('\r\n'), 'utf8')
}

function multipartMail(headers: string[], parts: Part[], { closed = true } = {}): Buffer {
  const boundary = 'b0undary-x'
  const body = parts.map((p) => [`--${boundary}`, ...p.headers, '', p.body].join('\r\n')).join('\r\n') + (closed ? `\r\n--${boundary}--\r\n` : '')
  return rawMail([...headers, 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${boundary}"`], body)
}

const PERSON = ['From: Ada Resident <ada@example.com>', 'To: contact@council.example', 'Subject: Bin not collected', 'Date: Mon, 6 Jan 2025 09:00:00 +0000', 'Message-ID: <m1@example.com>']
const textPart = (text: string): Part => ({ headers: ['Content-Type: text/plain; charset=utf-8'], body: text })
const filePart = (filename: string, type: string, bytes: Buffer): Part => ({
  headers: [`Content-Type: ${type}`, 'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename="${filename}"`],
  body: bytes.toString('base64')
})

/** Bytes that look like nothing, the same on every run (mulberry32). */
function garbage(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length)
  let a = seed
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    out[i] = (t ^ (t >>> 14)) & 0xff
  }
  return out
}

describe('the corpus: every file parses to what index.json says', () => {
  it('lists every .eml file of the corpus directory', () => {
    const files = readdirSync(CORPUS).filter((f) => f.endsWith('.eml')).sort()
    expect(files.length).toBeGreaterThan(40)
    expect(corpus.map((e) => e.file).sort()).toEqual(files)
  })

  it.each(corpus)('$file', async ({ file, expected }) => {
    const mail = await parseFile(file)
    expect({
      auto_reply: mail.classification.autoReply,
      bounce: mail.classification.bounce,
      list: mail.classification.list,
      has_attachments: mail.attachments.length > 0,
      from_address: mail.from?.address ?? null,
      in_reply_to: mail.inReplyTo
    }).toEqual(expected)
    // whatever the mail, what is stored is clean: one-line subject, no NUL anywhere
    expect(mail.subject).not.toMatch(/[\r\n\u0000]/)
    expect(mail.text).not.toContain('\u0000')
    // a mail written by a person carries no reason against answering it; a machine's does
    const machine = expected.auto_reply || expected.bounce || expected.list
    if (machine) expect(mail.classification.noAutoAnswer).not.toEqual([])
  })
})

describe('threading and addresses', () => {
  it('keeps the thread: the first In-Reply-To id, then every References and In-Reply-To id once', async () => {
    const mail = await parseFile('malformed-truncated-multipart-multiple-in-reply-to-01.eml')
    expect(mail.inReplyTo).toBe('<4e6e35f5a38b4_479f13bb90078171@small-app-01.mail>')
    expect(mail.references).toEqual([
      '<4e6e35f5a38b4_479f13bb90078178@small-app-01.mail>',
      '<4e6e35f5a38b4_479f13bb90078171@small-app-01.mail>',
      '<4e6e35f5a38b4_479f13bb90078131@small-app-01.mail>'
    ])
    const repeated = await parseFile('reply-eudora-raw-latin1-header-01.eml')
    expect(new Set(repeated.references).size).toBe(repeated.references.length)
  })

  it('reads the mbox "From " line as no header: From and In-Reply-To come from the real headers', async () => {
    const mail = await parseFile('reply-thunderbird-8bit-utf8-01.eml')
    expect(mail.from).toEqual({ address: 'marc.smith@example.com', name: 'Marc Smith' })
    expect(mail.messageId).toBe('<4FA76F9A.3060602@example.com>')
    expect(mail.subject).toBe('Re: XXXX Betatest Ticket Templates [Ticket#11162]')
  })

  it('decodes encoded subjects and names, including raw Latin-1 header bytes', async () => {
    expect((await parseFile('encoding-rfc2047-folded-subject-01.eml')).subject).toBe('test')
    expect((await parseFile('new-gmail-qp-rfc2047-01.eml')).subject).toBe('Český test')
    expect((await parseFile('reply-outlook-exchange-rfc822-attachments-01.eml')).from?.name).toBe('Müller, Bernd')
    expect((await parseFile('reply-eudora-raw-latin1-header-01.eml')).from?.name).toBe('Wilhelmsen Håvard')
  })

  it('has no Reply-To when it holds no usable address, so a reply goes to From', async () => {
    const mail = await parseFile('malformed-reply-to-empty-address-01.eml')
    expect(mail.replyTo).toBeNull()
    expect(mail.from?.address).toBe('SENDER@EXAMPLE.COM')
  })

  it('has no date when the Date header is empty, rather than the time it was parsed', async () => {
    expect((await parseFile('malformed-empty-date-01.eml')).date).toBeNull()
    expect((await parseFile('reply-gmail-01.eml')).date?.toISOString()).toBe('2021-08-19T08:44:31.000Z')
  })

  it('makes text from the HTML when a mail has only HTML', async () => {
    const mail = await parseFile('reply-lotus-notes-html-only-01.eml')
    expect(mail.html).toContain('<FONT face="arial">')
    expect(mail.text).toContain('Jetzt muss ich dir noch kurzfristig absagen für morgen.')
  })
})

describe('auto-replies, bounces and list mail are never answered automatically', () => {
  it('gives every reason of an auto-reply that is also bulk mail, and does not call it list mail', async () => {
    const mail = await parseFile('auto-reply-precedence-bulk-01.eml')
    expect(mail.classification).toMatchObject({ autoReply: true, bounce: false, list: false })
    expect(mail.classification.noAutoAnswer).toEqual(
      expect.arrayContaining(['Auto-Submitted: auto-replied', 'Precedence: bulk', 'empty Return-Path', 'sender noreply'])
    )
    expect(mail.returnPath).toBe('')
    expect(mail.headers).toMatchObject({ 'auto-submitted': 'auto-replied', precedence: 'bulk', 'return-path': '<>' })
  })

  it('names the List-* headers of list mail', async () => {
    const mail = await parseFile('list-mailman-rt-users-01.eml')
    expect(mail.classification.noAutoAnswer).toEqual(expect.arrayContaining(['List-Id header', 'Precedence: bulk']))
    expect(mail.headers['list-id']).toBe('For users of RT: Request Tracker <rt-users.lists.fsck.com>')
  })

  it('treats Auto-Submitted: no as a person', async () => {
    const mail = await parseMail(rawMail([...PERSON, 'Auto-Submitted: no'], 'Still not collected.'), OPTS)
    expect(mail.classification).toEqual({ autoReply: false, bounce: false, list: false, noAutoAnswer: [] })
  })

  it('recognises our own mail coming back by its Message-ID', async () => {
    const ours = PERSON.map((h) => (h.startsWith('Message-ID') ? 'Message-ID: <case-42.1@mail.switchboard.example>' : h))
    const mail = await parseMail(rawMail(ours, 'Your case has been received.'), OPTS)
    expect(mail.classification.noAutoAnswer).toEqual(['our own Message-ID'])
  })

  it('reads the returned Message-ID, failed recipients and finality of a Postfix bounce', async () => {
    const mail = await parseFile('bounce-postfix-01.eml')
    expect(mail.bounce).toEqual({
      originalMessageIds: ['<notification.20150830145600.1.4.5f4fd063-f69b-4e64-a92d-5e7128bd6682@127.0.0.1:3000>'],
      failedRecipients: ['not_existing@znuny.com'],
      permanent: true
    })
    // the delivery-status and returned message are the report, not files someone sent
    expect(mail.attachments).toEqual([])
  })

  it('reads a Gmail bounce: the id from its returned message, X-Failed-Recipients, the icon as its only file', async () => {
    const mail = await parseFile('bounce-gmail-01.eml')
    expect(mail.bounce?.originalMessageIds).toEqual(['<conversation/93775311-9416-4428-964b-862001f8a8b2/messages/27855337@gmail.com>'])
    expect(mail.bounce?.failedRecipients).toEqual(['alex.jones@fictionalcorp.com'])
    expect(mail.attachments.map((a) => [a.filename, a.refused])).toEqual([['icon.png', 'the file is empty']])
  })

  it('tells a delayed delivery (still being tried) from a final failure', async () => {
    const mail = await parseFile('bounce-gmail-delay-02.eml')
    expect(mail.bounce).toEqual({ originalMessageIds: ['<20150830145601.30.608881@example.com>'], failedRecipients: ['bob.smith@example.de'], permanent: false })
  })

  it.each([
    ['bounce-postfix-folded-headers-02.eml', '<20170526150141.232.13312@example.zammad.loc>'],
    ['bounce-sendmail-01.eml', '<200308221615.h7MGFGac020135@mx12.other.example.com>'],
    ['bounce-sendmail-emoji-02.eml', '<D69C17C3-6073-4B65-BD2C-52F3AE169C0F@example.jp>'],
    ['bounce-exim-01.eml', '<E1P1ce6-000Egt-GZ@e1.example.org>'],
    ['bounce-office365-01.eml', '<FFFFFFFF.EEEEEEEE@example.ed.jp>']
  ])('finds the returned original of %s', async (file, id) => {
    const mail = await parseFile(file)
    expect(mail.bounce?.originalMessageIds).toContain(id)
    expect(mail.bounce?.originalMessageIds).not.toContain(mail.messageId)
  })

  it('survives a bounce whose returned message is cut off and whose From has no address', async () => {
    const mail = await parseFile('bounce-postfix-empty-from-truncated-03.eml')
    expect(mail.from).toBeNull()
    expect(mail.bounce).toEqual({ originalMessageIds: [], failedRecipients: ['noreply@example-service.com'], permanent: true })
  })

  it('flags a sender whose SPF, DKIM or DMARC failed at the receiving server', async () => {
    const failed = await parseMail(rawMail([...PERSON, 'Authentication-Results: mx.council.example; spf=pass smtp.mailfrom=example.com; dkim=fail header.d=example.com; dmarc=fail header.from=example.com'], 'x'), OPTS)
    expect(failed.spoofSuspect).toBe('dkim=fail, dmarc=fail')
    const passed = await parseMail(rawMail([...PERSON, 'Authentication-Results: mx.council.example; spf=softfail; dkim=pass; dmarc=pass'], 'x'), OPTS)
    expect(passed.spoofSuspect).toBeNull()
  })
})

describe('attachments', () => {
  it('keeps an inline image with its Content-ID and a checksum of its bytes', async () => {
    const mail = await parseFile('attachment-image-inline-cid-apple-mail-01.eml')
    expect(mail.attachments).toHaveLength(1)
    const [image] = mail.attachments
    expect(image).toMatchObject({ filename: 'paella.jpg', contentType: 'image/jpg', size: 10790, inline: true, contentId: '1207F0B5-9F9D-4AB4-B547-AF9033E82111', refused: null })
    expect(image!.sha256).toBe(createHash('sha256').update(image!.content).digest('hex'))
  })

  it('counts an image the HTML shows by cid: as inline, and leaves the cid: link in the raw HTML', async () => {
    const part = { ...filePart('photo.png', 'image/png', PNG), headers: [...filePart('photo.png', 'image/png', PNG).headers, 'Content-ID: <photo1@example.com>'] }
    const html = { headers: ['Content-Type: text/html; charset=utf-8'], body: '<p>The pothole:</p><img src="cid:photo1@example.com">' }
    const mail = await parseMail(multipartMail(PERSON, [html, part]), OPTS)
    expect(mail.attachments.map((a) => [a.filename, a.inline, a.contentId, a.refused])).toEqual([['photo.png', true, 'photo1@example.com', null]])
    // the server maps cid: to the stored file when it serves the HTML
    expect(mail.html).toContain('<img src="cid:photo1@example.com">')
    expect(mail.text).toContain('The pothole:')
  })

  it('keeps a forwarded message as an attachment, not as text of its own', async () => {
    const mail = await parseFile('forward-resent-gnus-nested-rfc822-01.eml')
    expect(mail.attachments.map((a) => [a.filename, a.contentType, a.refused])).toEqual([['attachment.eml', 'message/rfc822', null]])
    expect(mail.text).not.toContain('Jakob Carlsson')
  })

  it('keeps only the base name of a file named with a path', async () => {
    const mail = await parseMail(multipartMail(PERSON, [textPart('See attached.'), filePart('../../etc/passwd.pdf', 'application/pdf', PDF)]), OPTS)
    expect(mail.attachments.map((a) => [a.filename, a.refused])).toEqual([['passwd.pdf', null]])
  })

  it('caps the count: 500 tiny files with a cap of 50 keep the first 50 and count 450 omitted', async () => {
    const files = Array.from({ length: 500 }, (_, i) => filePart(`note-${i}.txt`, 'text/plain', Buffer.from(`note ${i}\n`)))
    const mail = await parseMail(multipartMail(PERSON, [textPart('Lots of notes.'), ...files]), OPTS)
    expect(mail.attachments).toHaveLength(50)
    expect(mail.attachments[0]!.filename).toBe('note-0.txt')
    expect(mail.attachments[49]!.filename).toBe('note-49.txt')
    expect(mail.attachmentsOmitted).toBe(450)
  })

  it.each([
    ['an ELF binary named as a PDF', filePart('invoice.pdf', 'application/pdf', ELF), /content does not match its declared type application\/pdf \(looks like application\/x-elf\)/],
    ['a Windows program named as a PDF', filePart('invoice.pdf', 'application/pdf', EXE), /looks like application\/x-msdownload/],
    ['a Windows program sent as plain text', filePart('readme.txt', 'text/plain', EXE), /looks like application\/x-msdownload/],
    ['a real PDF named .pdf.exe', filePart('invoice.pdf.exe', 'application/pdf', PDF), /a \.exe file is not accepted/],
    ['an HTML page', filePart('login.html', 'text/html', Buffer.from('<form action="https://evil.example">')), /type text\/html is not accepted/],
    ['a file over the size limit', filePart('plan.pdf', 'application/pdf', Buffer.concat([PDF, Buffer.alloc(2048, 0x20)])), /too big: \d+ bytes, the limit is 1024/]
  ])('refuses %s, but lists it', async (_what, part, reason) => {
    const mail = await parseMail(multipartMail(PERSON, [textPart('Please see the attachment.'), part]), { ...OPTS, maxAttachmentBytes: 1024 })
    expect(mail.attachments).toHaveLength(1)
    expect(mail.attachments[0]!.refused).toMatch(reason)
  })

  it('accepts the bytes a declared type promises', async () => {
    expect(await attachmentRefusal({ filename: 'pothole.png', contentType: 'image/png', content: PNG }, 1024)).toBeNull()
    expect(await attachmentRefusal({ filename: 'plan.pdf', contentType: 'application/pdf', content: PDF }, 1024)).toBeNull()
    expect(await attachmentRefusal({ filename: 'visit.ics', contentType: 'text/calendar', content: Buffer.from('BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n') }, 1024)).toBeNull()
  })

  it('makes file names safe to show and download', () => {
    expect(safeFilename('..\\..\\Windows\\evil.pdf', 'application/pdf')).toBe('evil.pdf')
    expect(safeFilename('bill\r\n\u0000.pdf', 'application/pdf')).toBe('bill.pdf')
    expect(safeFilename('photo\u202egpj.exe', 'image/jpeg')).toBe('photogpj.exe')
    expect(safeFilename('../..', 'application/pdf')).toBe('attachment.pdf')
    expect(safeFilename(undefined, 'message/rfc822')).toBe('attachment.eml')
    const long = safeFilename(`${'x'.repeat(300)}.pdf`, 'application/pdf')
    expect(long).toHaveLength(200)
    expect(long.endsWith('.pdf')).toBe(true)
  })
})

describe('bad input', () => {
  it.each([1, 2, 3])('refuses random bytes (seed %i) as unparseable, with MailParseError only', async (seed) => {
    await expect(parseMail(garbage(8000, seed), OPTS)).rejects.toBeInstanceOf(MailParseError)
  })

  it('reads what there is of an unterminated multipart', async () => {
    const raw = multipartMail(PERSON, [textPart('The text before it broke off.'), { headers: ['Content-Type: application/pdf', 'Content-Transfer-Encoding: base64'], body: 'JVBERi0xLjQKJ' }], { closed: false })
    const mail = await parseMail(raw, OPTS)
    expect(mail.text).toContain('The text before it broke off.')
    expect(mail.from?.address).toBe('ada@example.com')
  })

  it('keeps a subject with an injected CR/LF on one line', async () => {
    const headers = PERSON.map((h) => (h.startsWith('Subject') ? 'Subject: =?UTF-8?Q?Hi=0D=0ABcc:_x@evil.example?=' : h))
    const mail = await parseMail(rawMail(headers, 'x'), OPTS)
    expect(mail.subject).toMatch(/^Hi\s+Bcc: x@evil\.example$/)
    expect(mail.subject).not.toMatch(/[\r\n]/)
  })

  it('cuts an overlong subject to 998 characters', async () => {
    const headers = PERSON.map((h) => (h.startsWith('Subject') ? `Subject: ${'a'.repeat(1500)}` : h))
    expect((await parseMail(rawMail(headers, 'x'), OPTS)).subject).toHaveLength(998)
  })

  it('strips NUL bytes from text and HTML', async () => {
    const raw = rawMail(
      [...PERSON, 'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="alt"'],
      [
        '--alt',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('Hello\u0000 there').toString('base64'),
        '--alt',
        'Content-Type: text/html; charset=utf-8',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('<p>Hello\u0000 there</p>').toString('base64'),
        '--alt--'
      ].join('\r\n')
    )
    const mail = await parseMail(raw, OPTS)
    expect(mail.text.trim()).toBe('Hello there')
    expect(mail.html).toBe('<p>Hello there</p>')
  })
})

describe('sanitiseHtml', () => {
  const dirty = [
    '<p style="color: red; background: url(https://tracker.example/bg.png)">Dear <b>council</b>,<br><i>the</i> <u>bin</u> was missed.</p>',
    '<script>fetch("https://evil.example")</script>',
    '<img src="https://tracker.example/x.png" width="1" height="1">',
    '<img src="x" onerror="alert(1)">',
    '<img src="cid:photo1@mail" alt="the bin">',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="https://www.council.example/bins" target="_blank">bins</a>',
    '<iframe src="https://evil.example"></iframe><form action="https://evil.example"><input name="pw"></form><object data="x.swf"></object>',
    '<ul><li>one</li></ul><table><tr><td>cell</td></tr></table>'
  ].join('\n')
  const clean = sanitiseHtml(dirty)

  it('removes scripts, handlers, frames, forms, objects, javascript: links and remote images', () => {
    for (const gone of ['<script', 'fetch(', 'onerror', 'alert(1)', 'javascript:', 'tracker.example', '<iframe', '<form', '<input', '<object']) {
      expect(clean).not.toContain(gone)
    }
  })

  it('keeps ordinary formatting, links made safe, and images from the message itself', () => {
    expect(clean).toContain('<p style="color:red">Dear <b>council</b>,<br /><i>the</i> <u>bin</u> was missed.</p>')
    expect(clean).toContain('<a href="https://www.council.example/bins" rel="noopener noreferrer">bins</a>')
    expect(clean).toContain('<img alt="the bin" src="cid:photo1@mail" />')
    expect(clean).toContain('<ul><li>one</li></ul><table><tr><td>cell</td></tr></table>')
  })
})
