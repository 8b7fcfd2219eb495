import { randomBytes } from 'node:crypto'

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
