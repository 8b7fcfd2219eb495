// How carriers show a withheld number; +266696687 is not Lesotho but "no caller id".
const WITHHELD = new Set(['', 'anonymous', 'restricted', 'unknown', 'private', 'unavailable', '+266696687', '266696687'])
const E164 = /^\+[1-9][0-9]{7,14}$/

/**
 * The sender's phone number as Twilio gives it (From of a text or a call), or null for a
 * withheld number, a short code or an alphanumeric sender. Twilio relays the network's
 * number in E.164 already, so its form is checked, not its numbering plan: libphonenumber's
 * full validation cost about a tenth of a text's CPU, and would refuse numbers the network
 * did deliver (new ranges, Ofcom's drama numbers).
 */
export function twilioSenderPhone(from: string): string | null {
  const raw = from.trim()
  if (WITHHELD.has(raw.toLowerCase())) return null
  return E164.test(raw) ? raw : null
}
