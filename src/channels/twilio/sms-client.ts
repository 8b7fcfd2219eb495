import twilio from 'twilio'
import type { Config } from '../../config.js'

/** What sending a text needs of Twilio: one REST call, its sid and first status back. */
export interface SmsSender {
  send(message: { to: string; from: string; body: string; statusCallback: string }): Promise<{ sid: string; status: string }>
}

/** A refusal from Twilio's API (e.g. 21610: the number has opted out at Twilio; 21211: not a valid To). */
export interface TwilioApiError {
  status: number
  code: number | null
  message: string
}

export function asTwilioApiError(err: unknown): TwilioApiError | null {
  const e = err as { status?: unknown; code?: unknown; message?: unknown } | null
  if (!e || typeof e.status !== 'number') return null
  return { status: e.status, code: typeof e.code === 'number' ? e.code : null, message: typeof e.message === 'string' ? e.message : 'Twilio refused the request' }
}

/**
 * The Twilio REST client for outbound texts, or null when no account is configured
 * (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN). TWILIO_API_URL sends its requests to another
 * base URL (a proxy; in tests, a local server that plays the Twilio API): the client's own
 * HTTP client is wrapped to rewrite the scheme and host of every request, the rest unchanged.
 */
export function createTwilioSmsSender(config: Pick<Config, 'TWILIO_ACCOUNT_SID' | 'TWILIO_AUTH_TOKEN' | 'TWILIO_API_URL'>): SmsSender | null {
  if (!config.TWILIO_ACCOUNT_SID || !config.TWILIO_AUTH_TOKEN) return null
  const base = new twilio.RequestClient({ timeout: 10_000 })
  const apiUrl = config.TWILIO_API_URL ? new URL(config.TWILIO_API_URL) : null
  const httpClient = apiUrl
    ? ({
        request(opts: Parameters<typeof base.request>[0]) {
          const uri = new URL(opts.uri)
          uri.protocol = apiUrl.protocol
          uri.host = apiUrl.host
          return base.request({ ...opts, uri: uri.toString() })
        }
      } as unknown as InstanceType<typeof twilio.RequestClient>)
    : base
  const client = twilio(config.TWILIO_ACCOUNT_SID, config.TWILIO_AUTH_TOKEN, { httpClient })
  return {
    async send(m) {
      const sent = await client.messages.create({ to: m.to, from: m.from, body: m.body, statusCallback: m.statusCallback })
      return { sid: sent.sid, status: sent.status }
    }
  }
}
