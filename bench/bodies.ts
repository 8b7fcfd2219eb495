import twilio from 'twilio'

/**
 * Request bodies for the bench: valid, realistic and distinct web-channel contacts. Every
 * postcode here is placed by the demo coverage data without triage (a unit postcode or an
 * outcode that belongs to one council), so every case can reach 'routed'.
 */

export interface ContactBody {
  name: string
  email: string
  postcode: string
  description: string
}

/** Postcodes the demo data routes to exactly one council (seeds/postcodes.csv, seeds/outcodes.csv). */
export const ROUTED_POSTCODES = [
  'LE10 0FR', // outcode LE10 → Hinckley and Bosworth (district; upper-tier services go to Leicestershire)
  'SW1A 1AA', // unit → Westminster
  'HA9 0FJ', // unit → Brent
  'PR1 2AB', // outcode PR1 → Preston (district; upper-tier services go to Lancashire)
  'S60 1AA', // outcode S60 → Rotherham
  'S63 7AA', // unit → Rotherham (the outcode S63 is shared with Barnsley)
  'NW10 2AA', // unit → Brent (the outcode NW10 is shared with Hammersmith and Fulham)
  'W12 7RJ' // outcode W12 → Hammersmith and Fulham
] as const

/** Descriptions that name a service the catalogue classifies by keyword. */
export const DESCRIPTIONS = [
  'There is a pothole outside number 4',
  'My bin collection was missed again',
  'Question about my council tax bill',
  'The street light outside my house has been out for a week',
  'Someone has dumped a mattress and a fridge on the corner, fly-tipping again',
  'Loud music from a party next door every night after midnight',
  'There is damp and mould in the bathroom of my council flat and the boiler leaks',
  'Lots of litter and graffiti along the high street'
] as const

/** An obviously fictitious name: the bench must never carry what could be a real person's details. */
export function benchName(n: number): string {
  return `Test Resident ${String(n % 10_000).padStart(4, '0')}`
}

function pick<T>(list: readonly T[], i: number): T {
  return list[i % list.length] as T
}

/**
 * The n-th contact of a run. `tag` keeps phases apart (e.g. 'max', 'rate') and `domain`
 * lets SQL select one phase's cases by their email; the email is unique per (tag, n).
 */
export function contactBody(n: number, tag: string, domain = 'example.com'): ContactBody {
  // different strides so the combinations of postcode and description vary
  return {
    name: benchName(n),
    email: `bench-${tag}-${n}@${domain}`,
    postcode: pick(ROUTED_POSTCODES, n),
    description: `${pick(DESCRIPTIONS, Math.floor(n / ROUTED_POSTCODES.length) + n)} (bench ${tag} ${n})`
  }
}

/** A counter-based body source for autocannon's `setupRequest`: one distinct body per request. */
export function bodySource(tag: string, domain?: string): { next(): string; count(): number } {
  let n = 0
  return {
    next: () => JSON.stringify(contactBody(n++, tag, domain)),
    count: () => n
  }
}

/** Our partnership numbers the demo data routes by postcode (seeds/reference.json). */
const SMS_NUMBERS = ['+447700900100', '+447700900200', '+447700900300'] as const

// Ofcom's numbers for drama, which will never be given to anyone: 1,000 in each block, the
// block's prefix followed by three digits (0113 496 0xxx is +441134960xxx). The mobile block,
// 07700 900xxx, is left out: the demo's own numbers are there.
const DRAMA_BLOCKS = [
  '+441134960', // Leeds 0113 496 0xxx
  '+441144960', // Sheffield 0114 496 0xxx
  '+441154960', // Nottingham 0115 496 0xxx
  '+441164960', // Leicester 0116 496 0xxx
  '+441174960', // Bristol 0117 496 0xxx
  '+441184960', // Reading 0118 496 0xxx
  '+441214960', // Birmingham 0121 496 0xxx
  '+441314960', // Edinburgh 0131 496 0xxx
  '+441414960', // Glasgow 0141 496 0xxx
  '+441514960', // Liverpool 0151 496 0xxx
  '+441614960', // Manchester 0161 496 0xxx
  '+441914980', // Tyneside 0191 498 0xxx
  '+442079460', // London 020 7946 0xxx
  '+442896496', // Northern Ireland 028 9649 6xxx
  '+442920180', // Cardiff 029 2018 0xxx
  '+441632960', // no area 01632 960xxx
  '+443069990', // UK-wide 0306 999 0xxx
  '+448081570', // freephone 0808 157 0xxx
  '+449098790' // premium rate 0909 879 0xxx
] as const
const DRAMA_COUNT = DRAMA_BLOCKS.length * 1000
// North America keeps 555-0100 to 555-0199 for fiction in every area code (200 to 999 here)
const FICTION_555_COUNT = 800 * 100

/**
 * The n-th sender number of a run: one nobody holds or ever will. Ofcom's 19,000 drama numbers
 * first, then North America's 80,000 fictional 555-01xx ones; a run signs fewer texts than
 * that (two rounds of 8 s at twice the web rate), and past it the numbers come round again.
 */
export function fictitiousPhone(n: number): { phone: string; country: 'GB' | 'US' } {
  const i = n % (DRAMA_COUNT + FICTION_555_COUNT)
  if (i < DRAMA_COUNT) return { phone: `${DRAMA_BLOCKS[Math.floor(i / 1000)]}${String(i % 1000).padStart(3, '0')}`, country: 'GB' }
  const j = i - DRAMA_COUNT
  return { phone: `+1${200 + Math.floor(j / 100)}55501${String(j % 100).padStart(2, '0')}`, country: 'US' }
}

// shared by every source of a run, so that no two phases text from the same number (a second
// text from a number with an open case would thread onto it rather than open a case)
let residentsUsed = 0

/**
 * Signed Twilio SMS webhooks, one distinct text from a distinct resident number per request,
 * each signed exactly as Twilio signs it (HMAC-SHA1 over the URL and every parameter, with
 * the twilio package's own function) for `url`, the public URL the app is told it has.
 */
export function smsSource(
  tag: string,
  authToken: string,
  url: string,
  /** how many requests to sign up front; any beyond are signed as they are asked for */
  presign = 0
): { next(): { body: string; headers: Record<string, string> }; count(): number } {
  let n = 0
  const tagHex = Buffer.from(tag).toString('hex').slice(0, 8).padEnd(8, '0')
  const make = (i: number) => {
    const sender = fictitiousPhone(residentsUsed++)
    const sid = `SM${tagHex}${i.toString(16).padStart(24, '0')}`
    const c = contactBody(i, tag)
    const params: Record<string, string> = {
      ToCountry: 'GB',
      SmsMessageSid: sid,
      NumMedia: '0',
      SmsSid: sid,
      SmsStatus: 'received',
      Body: `${c.description} ${c.postcode}`,
      To: pick(SMS_NUMBERS, i),
      FromCountry: sender.country,
      NumSegments: '1',
      MessageSid: sid,
      AccountSid: `AC${'0'.repeat(32)}`,
      // a distinct fictitious number per request: every text is a resident of its own
      From: sender.phone,
      ApiVersion: '2010-04-01'
    }
    return {
      body: new URLSearchParams(params).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, url, params) }
    }
  }
  const ready = Array.from({ length: presign }, (_, i) => make(i))
  return {
    next: () => {
      const i = n++
      return ready[i] ?? make(i)
    },
    count: () => n
  }
}

/** Our partnership mailboxes (seeds/reference.json): the app's SMTP listener takes mail for them. */
export const PARTNERSHIP_MAILBOXES = [
  'contact@tri-borough.switchboard.example',
  'contact@brent-lewisham.switchboard.example',
  'contact@leicestershire.switchboard.example'
] as const

/** One email as a mail server hands it on: the envelope and the RFC 5322 message. */
export interface BenchMail {
  from: string
  to: string
  raw: Buffer
}

/**
 * Emails from residents, one distinct sender per message (`bench-<tag>-<n>@<domain>`, so SQL
 * can select a phase's cases by `domain`; a second mail from the same sender could join the
 * first one's case), each describing a problem and giving a postcode in its text, round-robin
 * over the partnership mailboxes. Plain RFC 5322 text (every part of it is ASCII): it costs
 * microseconds, where MailComposer's MIME tree costs a quarter of a millisecond a message,
 * CPU a small machine would take from the app being measured. `prepare(count)` builds
 * messages before the clock starts anyway; any beyond those are built as they are asked for.
 */
export function mailSource(tag: string, domain: string): { prepare(count: number): void; next(): BenchMail; count(): number } {
  let n = 0
  const ready: (BenchMail | undefined)[] = []
  const make = (i: number): BenchMail => {
    const c = contactBody(i, tag, domain)
    const to = pick(PARTNERSHIP_MAILBOXES, i)
    const lines = [
      `From: "${c.name}" <${c.email}>`,
      `To: ${to}`,
      `Subject: Reporting a problem (${tag} ${i})`,
      `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
      `Message-ID: <bench-${tag}-${i}@${domain}>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 7bit',
      '',
      'Hello,',
      '',
      `${c.description}.`,
      '',
      `My postcode is ${c.postcode}.`,
      '',
      'Thank you,',
      c.name,
      ''
    ]
    return { from: c.email, to, raw: Buffer.from(lines.join('\r\n')) }
  }
  return {
    prepare: (count: number) => {
      for (let i = ready.length; i < count; i++) ready.push(make(i))
    },
    next: () => {
      const i = n++
      const built = ready[i]
      if (!built) return make(i)
      ready[i] = undefined // sent once: let it be collected
      return built
    },
    count: () => n
  }
}
