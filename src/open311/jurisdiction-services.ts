import type { Queryable } from '../db/pool.js'
import type { InboundContact } from '../intake/inbound-contact.js'
import type { Catalogue, Council, Service } from '../catalogue/catalogue.js'
import { coverageOf } from '../routing/locate.js'
import { placeCase } from '../routing/place-case.js'
import { Open311Error } from './format.js'
import { delivers } from './service-definitions.js'

/** Where a POST /requests goes, decided before the case is made. */
export interface RequestTarget {
  /** the council the case is sent to: the jurisdiction, or the one it is passed on to */
  councilGss: string
  /** the service_notice for the case's reference */
  notice: (reference: string) => string
}

// "Missed bin collection" → "missed bin collection", for the middle of a sentence
const inSentence = (name: string) => name.charAt(0).toLowerCase() + name.slice(1)

/**
 * Which council an Open311 POST is for, and what to tell the client. The contact (as
 * open311Contact made it for the jurisdiction) is placed now exactly as routing will place
 * the case (placeCase, on the same place, catalogue and coverage), so the notice names a
 * council only when routing will send the case there, and otherwise none.
 *
 * A service the jurisdiction delivers stays with it. One it does not (a missed bin sent to
 * a county, a pothole to a district) is passed on when routing places it with a council
 * that does: in a two-tier area the county's district for the place, or the district's
 * county. Else it is refused (400), naming the councils that handle it.
 */
export async function requestTarget(
  db: Queryable,
  cat: Catalogue,
  jurisdiction: Council,
  contact: Pick<InboundContact, 'serviceCode' | 'location'>
): Promise<RequestTarget> {
  const service = contact.serviceCode ? cat.services.get(contact.serviceCode) : undefined
  if (!service) throw new Open311Error(404, 'No service has this service_code')
  const where = contact.location
  const placement = await placeCase(db, cat, {
    channel: 'open311',
    recipient: null,
    requestedCouncilGss: jurisdiction.gss,
    requestedServiceCode: service.code,
    description: '',
    ...where,
    coverage: where.postcode ? await coverageOf(db, where.postcode) : []
  })
  const to = placement.kind === 'routed' ? cat.councils.get(placement.councilGss) : undefined

  if (delivers(cat, jurisdiction, service)) {
    return {
      councilGss: jurisdiction.gss,
      // routing may still send it elsewhere (a lower-tier service to a county's district) or to triage
      notice: (ref) => (to ? `Thank you. ${to.name} has your report: quote ${ref}.` : `Thank you. Your report is logged as ${ref}.`)
    }
  }
  // Sent on as `to`, routing names it again and, with the same place, sends it to `to`
  // itself: a district keeps its lower-tier services, a county its upper-tier ones.
  if (to && to.gss !== jurisdiction.gss && delivers(cat, to, service)) {
    const what = inSentence(service.name)
    return {
      councilGss: to.gss,
      notice: (ref) => `Thank you. Your report is logged as ${ref}. ${jurisdiction.name} does not handle ${what}, so it has been passed to ${to.name}, which handles ${what} there.`
    }
  }
  const why =
    where.postcode !== null || where.lat !== null
      ? 'the location given does not place it in the area of one of them, so send it to the council for that place'
      : 'give lat and long, or a postcode in address_string, to have it passed to the one for the place'
  throw new Open311Error(400, `${refusal(cat, jurisdiction, service)} It was not accepted: ${why}.`)
}

/**
 * Runs open311Contact (`make`) for the jurisdiction and, when it refuses a form (400) for a
 * service the jurisdiction does not deliver, says who does before why: a client that sent
 * a missed bin to a county without a place learns where bins go, not only that it needs one.
 */
export function explainRefusal<T>(cat: Catalogue, jurisdiction: Council, serviceCode: string, make: () => T): T {
  try {
    return make()
  } catch (err) {
    const service = cat.services.get(serviceCode.trim())
    if (!(err instanceof Open311Error) || err.statusCode !== 400 || !service || delivers(cat, jurisdiction, service)) throw err
    throw new Open311Error(400, `${refusal(cat, jurisdiction, service)} ${err.message}`)
  }
}

/** That a jurisdiction does not handle a service, naming the councils of its area that do. */
function refusal(cat: Catalogue, jurisdiction: Council, service: Service): string {
  const related = [...cat.councils.values()].filter((c) => c.gss === jurisdiction.countyGss || c.countyGss === jurisdiction.gss)
  const handlers = related.filter((c) => delivers(cat, c, service)).map((c) => c.name).sort()
  const who = handlers.length ? `${listed(handlers)} ${handlers.length > 1 ? 'handle' : 'handles'} it` : 'no council of its area here handles it'
  return `${jurisdiction.name} does not handle ${inSentence(service.name)} (${service.code}): ${who}.`
}

const listed = (names: string[]) => (names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : (names[0] ?? ''))
