/**
 * UK postcode parsing. Written by hand because it is a few lines of the published format
 * (outward code + inward code, with the letters the Royal Mail never uses excluded) and
 * the npm alternatives add a dependency for the same regular expressions.
 */
const OUTWARD = '(?:[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRV-Y]))'
const INWARD = '[0-9][ABD-HJLNP-UW-Z]{2}'
const FULL = new RegExp(`^(${OUTWARD})(${INWARD})$`)
const OUTCODE_ONLY = new RegExp(`^(${OUTWARD})$`)

export interface Postcode {
  /** 'LE10 0FR', or null when only an outcode was given */
  unit: string | null
  /** 'LE10 0', or null when only an outcode was given */
  sector: string | null
  /** 'LE10' */
  outcode: string
}

/** Parses a full postcode or a bare outcode, in any case and spacing; null if impossible. */
export function parsePostcode(input: string): Postcode | null {
  const compact = input.toUpperCase().replace(/\s+/g, '')
  if (compact === 'GIR0AA') return { unit: 'GIR 0AA', sector: 'GIR 0', outcode: 'GIR' }
  const full = FULL.exec(compact)
  if (full) {
    const outcode = full[1] as string
    const inward = full[2] as string
    return { unit: `${outcode} ${inward}`, sector: `${outcode} ${inward[0]}`, outcode }
  }
  const out = OUTCODE_ONLY.exec(compact)
  if (out) return { unit: null, sector: null, outcode: out[1] as string }
  return null
}

/** The display form stored on a case: the unit if known, else the outcode. */
export function formatPostcode(p: Postcode): string {
  return p.unit ?? p.outcode
}

// A full postcode standing as a word of free text, with or without its space.
const IN_TEXT = new RegExp(`(?:^|[^A-Za-z0-9])(${OUTWARD})\\s*(${INWARD})(?![A-Za-z0-9])`, 'gi')

/**
 * The first full postcode in a resident's own words ("Bin not collected at le10 0aa"), or
 * null. Only full postcodes: a bare outcode in free text ("M1", "E1") is too easily a word.
 */
export function findPostcode(text: string): Postcode | null {
  for (const m of text.toUpperCase().matchAll(IN_TEXT)) {
    const found = parsePostcode(`${m[1]}${m[2]}`)
    if (found?.unit) return found
  }
  return null
}
