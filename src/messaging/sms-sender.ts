/**
 * What the message:send worker needs of an SMS provider: one call that sends a text and
 * answers the provider's id for it and its first status. The Twilio adapter
 * (src/channels/twilio/sms-client.ts) implements it; messaging never imports a provider.
 */
export interface SmsSender {
  send(message: { to: string; from: string; body: string; statusCallback: string }): Promise<{ sid: string; status: string }>
}

/**
 * A provider's refusal with its HTTP status and its own error code (Twilio's 21610: the
 * number has opted out there; 21211: not a valid To). A 4xx other than 429 will be refused
 * again; anything else may be retried.
 */
export class ProviderRefusal extends Error {
  constructor(
    readonly provider: string,
    readonly status: number,
    readonly code: number | null,
    message: string
  ) {
    super(message)
    this.name = 'ProviderRefusal'
  }
}
