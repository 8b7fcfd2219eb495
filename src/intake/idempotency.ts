import { createHash } from 'node:crypto'

/** Whose Idempotency-Key it is: the council key the request carries, else the contact it gives. */
export interface IdempotencyScope {
  /** the bearer key as sent (a council's web form); null when none */
  apiKey: string | null
  /** normalised as intake stores them: lower-cased email, E.164 phone */
  email: string | null
  phone: string | null
}

/**
 * The id a web contact's Idempotency-Key is stored under (raw_inbound.provider_message_id,
 * unique per provider): the key scoped to its sender, as Stripe scopes keys by account. Two
 * senders using `form-123` each get their own case; the same sender repeating gets the
 * same answer, and reusing the key for another body still gets 422. The sender is the API
 * key when one is sent (a form posting for many residents), else the email and phone
 * given. The key need not be checked: it only chooses the scope, and no one can reach
 * another's scope without that council's key. One hash, no round trip: intake is the hot
 * path. A hash also keeps the key itself (anything the client chose) out of storage.
 */
export function idempotencyId(key: string, scope: IdempotencyScope): string {
  const owner = scope.apiKey !== null ? `api-key\n${scope.apiKey}` : `contact\n${scope.email ?? ''}\n${scope.phone ?? ''}`
  return `idem:${createHash('sha256').update(`${owner}\n${key}`).digest('base64url')}`
}
