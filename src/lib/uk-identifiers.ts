// The UK's shared keys for places, as AddressBase and the National Street Gazetteer give
// them: a UPRN names one addressable property (up to 12 digits), a USRN one street (up to
// 8). Systems write them with spaces or leading zeros (a 12-digit zero-padded UPRN is
// common), so both are read as a number and kept as its plain digits.

const digitsOf = (input: string, max: number): string | null => {
  const compact = input.replace(/[\s,]/g, '')
  if (!/^[0-9]+$/.test(compact)) return null
  const plain = compact.replace(/^0+(?=[0-9])/, '')
  return plain !== '0' && plain.length <= max ? plain : null
}

/** A Unique Property Reference Number as plain digits, or null when it cannot be one. */
export const normaliseUprn = (input: string): string | null => digitsOf(input, 12)

/** A Unique Street Reference Number as plain digits, or null when it cannot be one. */
export const normaliseUsrn = (input: string): string | null => digitsOf(input, 8)
