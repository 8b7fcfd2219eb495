import { parsePhoneNumberFromString } from 'libphonenumber-js/max'

/** E.164 for a UK or international number, or null if it is not a possible phone number. */
export function normalisePhone(input: string): string | null {
  const parsed = parsePhoneNumberFromString(input.trim(), 'GB')
  if (!parsed || !parsed.isValid()) return null
  return parsed.number
}

// Deliberately loose: one @, something on each side, a dot in the domain, no spaces.
// Whether the mailbox exists is only known by writing to it.
const EMAIL = /^[^\s@<>()[\],;:"]+@[^\s@<>()[\],;:"]+\.[^\s@<>()[\],;:".]{2,}$/

/** Lower-cased, trimmed email, or null if it cannot be an address. */
export function normaliseEmail(input: string): string | null {
  const email = input.trim().toLowerCase()
  // control characters (NUL above all, which Postgres refuses in text) make no address
  if (email.length > 254 || !EMAIL.test(email) || /[\u0000-\u001f\u007f]/.test(email)) return null
  return email
}

/** Normalises a contact point given as either an email or a phone number. */
export function normaliseContactPoint(input: string): { kind: 'email' | 'phone'; value: string } | null {
  if (input.includes('@')) {
    const email = normaliseEmail(input)
    return email ? { kind: 'email', value: email } : null
  }
  const phone = normalisePhone(input)
  return phone ? { kind: 'phone', value: phone } : null
}
