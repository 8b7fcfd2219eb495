/**
 * The one catalogue of errors a client can see. Each has a stable code, an HTTP status and,
 * where one field is at fault, that field's name. 5xx details never reach the client.
 */
export const errorCatalogue = {
  validation_failed: { status: 400, message: 'The request is not valid' },
  malformed_json: { status: 400, message: 'The body is not valid JSON' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json' },
  payload_too_large: { status: 413, message: 'The body is larger than this service accepts' },
  contact_required: { status: 422, message: 'Give an email address or a phone number so we can reply' },
  invalid_email: { status: 422, message: 'The email address is not valid' },
  invalid_phone: { status: 422, message: 'The phone number is not a valid UK or international number' },
  invalid_postcode: { status: 422, message: 'The postcode is not a valid UK postcode' },
  invalid_uprn: { status: 422, message: 'A UPRN is a Unique Property Reference Number: up to 12 digits' },
  invalid_usrn: { status: 422, message: 'A USRN is a Unique Street Reference Number: up to 8 digits' },
  location_outside_uk: { status: 422, message: 'The coordinates are outside the United Kingdom' },
  incomplete_location: { status: 422, message: 'Give both lat and long, or neither' },
  unknown_service_code: { status: 422, message: 'No service has this code' },
  unknown_council: { status: 422, message: 'No council in this deployment has this GSS code' },
  description_required: { status: 422, message: 'Describe the problem, or give a service_code' },
  idempotency_key_reused: { status: 422, message: 'This Idempotency-Key was already used for a different request' },
  unauthorized: { status: 401, message: 'A valid API key is required' },
  not_signed_by_twilio: { status: 403, message: 'The request does not carry a valid Twilio signature' },
  forbidden: { status: 403, message: 'You may not do this' },
  not_found: { status: 404, message: 'Not found' },
  unknown_recipient: { status: 422, message: 'The message is not addressed to any mailbox of ours' },
  not_in_quarantine: { status: 409, message: 'This message is no longer in quarantine' },
  rate_limited: { status: 429, message: 'Too many requests; wait before trying again' },
  reply_channel_unavailable: { status: 409, message: 'This case cannot be answered on its channel yet' },
  delivery_not_retryable: { status: 409, message: 'Only a dead-lettered or failed delivery can be retried' },
  webhook_url_refused: { status: 422, message: 'The webhook URL must be https to a public address, without a user name or password' },
  webhook_subscription_limit: { status: 409, message: 'This council has as many webhook subscriptions as it may; delete one first' },
  temporarily_unavailable: { status: 503, message: 'The service is temporarily unavailable; retry shortly' },
  internal_error: { status: 500, message: 'Something went wrong on our side' }
} as const

export type ErrorCode = keyof typeof errorCatalogue

export class AppError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly field: string | undefined

  constructor(code: ErrorCode, options: { field?: string; message?: string; cause?: unknown } = {}) {
    super(options.message ?? errorCatalogue[code].message, { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.statusCode = errorCatalogue[code].status
    this.field = options.field
  }
}

// connection loss, shutdown, resources, serialization, and waiting cut short by
// lock_timeout (55P03) or statement_timeout (57014): all worth a retry shortly
const TRANSIENT_PG_CODES = new Set(['57P01', '57P02', '57P03', '57014', '55P03', '53300', '53400', '08000', '08003', '08006', '08001', '08004', '40001', '40P01'])
const TRANSIENT_NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])

/**
 * True when the error means "Postgres (or Redis) is not reachable right now", so the caller
 * answers with a temporary failure and the sender retries, instead of a 500.
 */
export function isTransientInfraError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false
  const e = err as { code?: unknown; message?: unknown }
  if (typeof e.code === 'string' && (TRANSIENT_PG_CODES.has(e.code) || TRANSIENT_NET_CODES.has(e.code))) return true
  const message = typeof e.message === 'string' ? e.message : ''
  return /timeout exceeded when trying to connect|Connection terminated|connection error|Client has encountered a connection error|Cannot use a pool after calling end/i.test(message)
}
