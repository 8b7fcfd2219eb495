import type { Config } from '../../config.js'

/** What an MMS may carry that we keep: pictures, PDFs, short audio and video, contact cards. */
export const MEDIA_TYPES = new Set([
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'image/heic',
  'application/pdf',
  'audio/mpeg',
  'audio/ogg',
  'audio/amr',
  'video/mp4',
  'video/3gpp',
  'text/vcard'
])

export type MediaFetch =
  | { kind: 'stored'; contentType: string; bytes: Buffer }
  | { kind: 'refused'; detail: string }

/** Twilio's media live under its API host; nothing else is fetched (the URL came in a request). */
const TWILIO_API_HOST = 'api.twilio.com'

/**
 * Fetches one medium Twilio listed with an MMS, with the account's credentials (Twilio can
 * require them for media), following Twilio's redirect to its storage. Refused, without
 * keeping anything: a URL outside Twilio's API, a type outside MEDIA_TYPES, a size over
 * `maxBytes` (checked on the announced length and again while reading, so an endless body
 * costs at most that much). Network errors and 5xx are thrown, for the job to retry.
 */
export async function fetchTwilioMedia(
  url: string,
  config: Pick<Config, 'TWILIO_ACCOUNT_SID' | 'TWILIO_AUTH_TOKEN' | 'TWILIO_API_URL'>,
  opts: { maxBytes: number; timeoutMs: number }
): Promise<MediaFetch> {
  let target: URL
  try {
    target = new URL(url)
  } catch {
    return { kind: 'refused', detail: 'not a URL' }
  }
  if (target.protocol !== 'https:' || target.hostname !== TWILIO_API_HOST) return { kind: 'refused', detail: `not a Twilio media URL (${target.hostname})` }
  if (config.TWILIO_API_URL) {
    // the same stand-in or proxy the REST client uses
    const api = new URL(config.TWILIO_API_URL)
    target.protocol = api.protocol
    target.host = api.host
  }
  const headers: Record<string, string> = {}
  if (config.TWILIO_ACCOUNT_SID && config.TWILIO_AUTH_TOKEN) {
    headers.authorization = `Basic ${Buffer.from(`${config.TWILIO_ACCOUNT_SID}:${config.TWILIO_AUTH_TOKEN}`).toString('base64')}`
  }
  const res = await fetch(target, { headers, redirect: 'follow', signal: AbortSignal.timeout(opts.timeoutMs) })
  if (res.status >= 500 || res.status === 429) {
    await res.body?.cancel()
    throw new Error(`media fetch answered HTTP ${res.status}`)
  }
  if (!res.ok) {
    await res.body?.cancel()
    return { kind: 'refused', detail: `HTTP ${res.status}` }
  }
  const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  if (!MEDIA_TYPES.has(contentType)) {
    await res.body?.cancel()
    return { kind: 'refused', detail: `type ${contentType || 'unknown'} is not kept` }
  }
  const announced = Number(res.headers.get('content-length') ?? NaN)
  if (announced > opts.maxBytes) {
    await res.body?.cancel()
    return { kind: 'refused', detail: `${announced} bytes is over the ${opts.maxBytes}-byte limit` }
  }
  const chunks: Buffer[] = []
  let size = 0
  if (res.body) {
    const reader = res.body.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > opts.maxBytes) {
        await reader.cancel()
        return { kind: 'refused', detail: `over the ${opts.maxBytes}-byte limit` }
      }
      chunks.push(Buffer.from(value))
    }
  }
  return { kind: 'stored', contentType, bytes: Buffer.concat(chunks) }
}
