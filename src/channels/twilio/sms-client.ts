import twilio from 'twilio'
import type { Config } from '../../config.js'
import { ProviderRefusal, type SmsSender } from '../../messaging/sms-sender.js'

/** A refusal from Twilio's API as the provider-neutral ProviderRefusal; anything else as it is. */
function asRefusal(err: unknown): unknown {
  const e = err as { status?: unknown; code?: unknown; message?: unknown } | null
  if (!e || typeof e.status !== 'number') return err
  return new ProviderRefusal('twilio', e.status, typeof e.code === 'number' ? e.code : null, typeof e.message === 'string' ? e.message : 'Twilio refused the request')
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
      try {
        const sent = await client.messages.create({ to: m.to, from: m.from, body: m.body, statusCallback: m.statusCallback })
        return { sid: sent.sid, status: sent.status }
      } catch (err) {
        throw asRefusal(err)
      }
    }
  }
}
