import { randomBytes } from 'node:crypto'
import Type, { type TStringOptions } from 'typebox'
import { describedPattern } from '../lib/schema.js'

// Crockford's base32: no I, L, O or U, so a reference read over the phone is unambiguous.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/**
 * A new public case reference such as `SB-7KQ2-M9XD-4TPA`: 60 random bits, so it cannot be
 * guessed or enumerated; it is also never enough alone to see a case.
 */
export function newCaseReference(): string {
  const bytes = randomBytes(12)
  let out = ''
  for (let i = 0; i < 12; i++) out += ALPHABET[(bytes[i] as number) & 31]
  return `SB-${out.slice(0, 4)}-${out.slice(4, 8)}-${out.slice(8, 12)}`
}

export const CASE_REFERENCE_PATTERN = '^SB-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$'

// what callers may send: the same in either case, since the handlers upper-case it
const CASE_REFERENCE_INPUT_PATTERN = describedPattern(
  '^[Ss][Bb]-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}$',
  'must be a case reference such as SB-7KQ2-M9XD-4TPA'
)

/**
 * A case reference in a route's params or body. Checked by the schema, so a malformed one
 * is a 400 before any query; a well-formed but unknown one is still the handler's 404.
 */
export function CaseReference(options: Omit<TStringOptions, 'pattern'> = {}) {
  return Type.String({ ...options, pattern: CASE_REFERENCE_INPUT_PATTERN })
}
