import { authenticate, dkimVerify, dmarc, type DKIMVerifyResult, type DMARCResult, type DNSResolver, type SPFResult } from 'mailauth'

/**
 * What mailauth asks of DNS: `resolver(name, rrtype)`, answering as node:dns's resolve()
 * does (mailauth's type names TXT's answer shape; A, MX and PTR answers go through it too).
 */
export type DnsResolver = DNSResolver

/** The connection a mail came over: known for our SMTP listener, not for a provider's webhook. */
export interface MailClient {
  ip: string
  /** the EHLO/HELO name it gave */
  helo: string | null
  /** MAIL FROM; '' for the null sender */
  mailFrom: string | null
}

/**
 * Whether a mail's From is its sender's, as SPF, DKIM and DMARC show it. Kept with the
 * stored mail (raw_inbound's payload) and shown on the case's messages; only a pass lets
 * an automatic acknowledgement go to the From address.
 */
export interface SenderCheck {
  passed: boolean
  /** in words, for an operator: why it passed, or why not */
  reason: string
  spf: string
  dkim: string
  dmarc: string
}

// a sending server waits minutes for our answer, a provider's webhook seconds: the check
// must leave intake time to commit within REQUEST_TIMEOUT_MS
const CHECK_DEADLINE_MS = 5_000

/**
 * SPF, DKIM and DMARC of one mail (mailauth). With the connecting client (our listener):
 * the sender passes with a DMARC pass; for a From domain that publishes no DMARC record,
 * with an SPF pass for the MAIL FROM domain or a DKIM pass for a signing domain aligned
 * with the From domain. Without one (a provider's webhook, which gives no connecting
 * address to check SPF against): only an aligned DKIM pass, and DMARC is not to fail.
 * Never throws: a failure or a timeout is a check that did not pass.
 */
export async function checkSender(raw: Buffer, client: MailClient | null, opts: { resolver: DnsResolver; mta: string }): Promise<SenderCheck> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<SenderCheck>((resolve) => {
    timer = setTimeout(() => resolve(notChecked('the check took longer than 5 s (DNS)', 'temperror')), CHECK_DEADLINE_MS)
  })
  try {
    return await Promise.race([run(raw, client, opts), late])
  } catch (err) {
    return notChecked(`the check failed: ${(err as Error).message}`.slice(0, 200), 'temperror')
  } finally {
    clearTimeout(timer)
  }
}

async function run(raw: Buffer, client: MailClient | null, opts: { resolver: DnsResolver; mta: string }): Promise<SenderCheck> {
  const { resolver } = opts
  if (client) {
    const ip = client.ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '')
    const r = await authenticate(raw, {
      ip,
      helo: client.helo || ip,
      sender: client.mailFrom ?? '',
      mta: opts.mta,
      resolver,
      // ARC only decorates a DMARC verdict; BIMI would fetch logos from the sender's web server
      disableArc: true,
      disableBimi: true
    })
    return decide(r.dkim, r.spf, r.dmarc)
  }
  const dkim = await dkimVerify(raw, { resolver })
  const headerFrom = dkim.headerFrom ?? []
  const verdict = headerFrom.length === 1 ? await dmarc({ headerFrom, spfDomains: [], dkimDomains: dkimDomains(dkim), resolver }) : false
  return decide(dkim, null, verdict)
}

function decide(dkim: DKIMVerifyResult, spf: SPFResult | null | false, verdict: DMARCResult | false): SenderCheck {
  const passes = (dkim.results ?? []).filter((r) => r.status.result === 'pass')
  const aligned = passes.find((r) => r.status.aligned)
  const facts = {
    spf: spf ? spf.status.result : 'not checked (no connecting address)',
    dkim: aligned ? 'pass (aligned)' : passes.length ? 'pass (not aligned with From)' : (dkim.results?.[0]?.status.result ?? 'none'),
    dmarc: verdict ? verdict.status.result : 'not checked'
  }
  const fromDomain = domainOf(dkim.headerFrom?.length === 1 ? dkim.headerFrom[0]! : '')
  if (!verdict || !fromDomain) return { passed: false, reason: 'the message has no single From address', ...facts }
  const result = verdict.status.result
  if (result === 'pass') return { passed: true, reason: `DMARC pass for ${fromDomain}`, ...facts }
  if (result !== 'none') return { passed: false, reason: `DMARC ${result} for ${fromDomain}`, ...facts }
  // no DMARC record: the From domain's own SPF or DKIM must vouch for it
  if (aligned) return { passed: true, reason: `no DMARC record; DKIM pass for ${aligned.signingDomain}, aligned with ${fromDomain}`, ...facts }
  if (spf && spf.status.result === 'pass' && sameOrganisation(spf.domain, fromDomain)) {
    return { passed: true, reason: `no DMARC record; SPF pass for ${spf.domain}, aligned with ${fromDomain}`, ...facts }
  }
  return { passed: false, reason: `no DMARC record for ${fromDomain}, and no SPF or DKIM pass aligned with it`, ...facts }
}

function dkimDomains(dkim: DKIMVerifyResult) {
  return (dkim.results ?? [])
    .filter((r) => r.status.result === 'pass')
    .map((r) => ({ ...(r.id ? { id: r.id } : {}), domain: r.signingDomain, aligned: Boolean(r.status.aligned), underSized: Boolean(r.status.underSized) }))
}

/**
 * Relaxed alignment without a public-suffix list: the same domain, or one a subdomain of the
 * other (mail.example.org and example.org). Stricter than DMARC's organisational domains
 * (two sibling subdomains do not align), never looser.
 */
function sameOrganisation(a: string, b: string): boolean {
  const x = a.toLowerCase().replace(/\.$/, '')
  const y = b.toLowerCase().replace(/\.$/, '')
  return x === y || x.endsWith(`.${y}`) || y.endsWith(`.${x}`)
}

function domainOf(address: string): string | null {
  const at = address.lastIndexOf('@')
  const domain = (at >= 0 ? address.slice(at + 1) : '').trim().toLowerCase()
  return domain.includes('.') ? domain : null
}

function notChecked(reason: string, how: string): SenderCheck {
  return { passed: false, reason, spf: how, dkim: how, dmarc: how }
}
