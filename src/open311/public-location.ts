import { parsePostcode } from '../lib/postcode.js'

/** Where a service's problems are (services.location_kind): in the street, or at someone's home. */
export type LocationKind = 'street' | 'property'

export interface ShownLocation {
  zipcode: string | null
  lat: number | null
  long: number | null
}

// Three decimal places: a cell about 110 m north to south and 70 m east to west in the UK,
// wide enough to hold a street of homes rather than one.
const STEP = 1000
const blur = (degrees: number | null) => (degrees === null ? null : Math.round(degrees * STEP) / STEP)

/**
 * Where a case is, as the public (Open311 without a key) may see it. A street problem is
 * shown where it is, so people can find it and see it was reported. A problem at a home (a
 * missed bin, a repair, anything of a service not marked `street`) must not point at the
 * house: the outward code only (LE10, not LE10 0FR) and coordinates rounded to about 100 m.
 */
export function publicLocation(kind: LocationKind | null, at: { postcode: string | null; lat: number | null; lng: number | null }): ShownLocation {
  if (kind === 'street') return { zipcode: at.postcode, lat: at.lat, long: at.lng }
  const outcode = at.postcode ? (parsePostcode(at.postcode)?.outcode ?? null) : null
  return { zipcode: outcode, lat: blur(at.lat), long: blur(at.lng) }
}
