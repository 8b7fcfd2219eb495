import type { Queryable } from '../db/pool.js'
import type { Catalogue, Council, Destination, Service } from '../catalogue/catalogue.js'
import { classifyService } from './classify-service.js'
import { locate, type CoverageRow } from './locate.js'

/** What routing knows about a case when it places it. */
export interface CaseFacts {
  channel: string
  recipient: string | null
  requestedCouncilGss: string | null
  requestedServiceCode: string | null
  description: string
  postcode: string | null
  lat: number | null
  lng: number | null
  /** the coverage rows of the postcode's unit, sector and outcode */
  coverage: CoverageRow[]
}

export type Placement =
  | {
      kind: 'routed'
      service: Service
      serviceReason: string
      councilGss: string
      partnershipId: string | null
      destination: Destination | null
      slaHours: number
      reason: string
    }
  | {
      kind: 'triage'
      service: Service
      serviceReason: string
      candidates: string[]
      partnershipId: string | null
      reason: string
    }

const GENERAL = 'general_enquiry'

/** Decides the service, the council, the team and the SLA for a case, each with its reason. */
export async function placeCase(db: Queryable, cat: Catalogue, facts: CaseFacts): Promise<Placement> {
  const { service, serviceReason } = chooseService(cat, facts)
  const describe = (gss: string) => cat.describe(gss)
  const reasons: string[] = []

  const inbound = cat.inboundAddress(facts.channel, facts.recipient)
  let named: Council | null = null
  if (facts.requestedCouncilGss) {
    named = cat.councils.get(facts.requestedCouncilGss) ?? null
    if (named) reasons.push(`council named by the resident → ${describe(named.gss)}`)
  }
  if (!named && inbound?.councilGss) {
    named = cat.councils.get(inbound.councilGss) ?? null
    if (named) reasons.push(`contacted ${facts.recipient}, a ${facts.channel} address dedicated to ${describe(named.gss)}`)
  }

  const hasLocation = Boolean(facts.postcode) || (facts.lat !== null && facts.lng !== null)
  const located = hasLocation ? await locate(db, facts, describe) : null
  const partnershipHint = inbound?.partnershipId ?? null
  const triage = (candidates: string[], why: string): Placement => ({
    kind: 'triage',
    service,
    serviceReason,
    candidates,
    partnershipId: partnershipOf(cat, candidates) ?? partnershipHint,
    reason: [...reasons, why].join('; ')
  })

  // A text or call to a number of ours that is not configured: kept, and a person decides.
  if ((facts.channel === 'sms' || facts.channel === 'voice') && facts.recipient && !inbound) {
    return triage([], `contacted ${facts.recipient}, a ${facts.channel} number this deployment does not know`)
  }

  if (service.needsLocation && !hasLocation) {
    return triage(named ? [named.gss] : [], `${service.code} needs a location and the contact gave none`)
  }

  let locality: Council | null = named
  if (!locality && located?.kind === 'found') {
    locality = cat.councils.get(located.councilGss) ?? null
    reasons.push(located.reason)
  }
  if (!locality) {
    if (located?.kind === 'ambiguous') {
      // Several districts of one county share the area, and the county does this service:
      // the owner is certain even though the district is not.
      const owners = new Set(located.candidates.map((gss) => ownerFor(cat, cat.councils.get(gss), service)?.gss ?? gss))
      const [only] = owners
      if (owners.size === 1 && only && !located.candidates.includes(only)) {
        reasons.push(located.reason, `they all lie in ${describe(only)}, which handles ${service.code}`)
        return routed(cat, service, serviceReason, only, partnershipOf(cat, located.candidates) ?? partnershipHint, reasons)
      }
      return triage(located.candidates, located.reason)
    }
    return triage([], located?.reason ?? 'no postcode, coordinates, named council or dedicated address to place the case')
  }

  // The tier rule: upper-tier services go to the county, lower-tier ones to the district.
  let owner: Council = locality
  if (locality.tier === 'district' && service.tier === 'upper' && locality.countyGss) {
    owner = cat.councils.get(locality.countyGss) ?? locality
    reasons.push(`${service.code} is a county (upper-tier) service → ${describe(owner.gss)}`)
  } else if (locality.tier === 'county' && service.tier === 'lower') {
    const district = located?.kind === 'found' ? cat.councils.get(located.councilGss) : undefined
    if (district?.countyGss === locality.gss) {
      owner = district
      reasons.push(located!.reason, `${service.code} is a district (lower-tier) service → ${describe(district.gss)}`)
    } else {
      const districts = [...cat.councils.values()].filter((c) => c.countyGss === locality!.gss).map((c) => c.gss)
      return triage(districts, `${service.code} is a district (lower-tier) service and nothing says which district of ${describe(locality.gss)}`)
    }
  } else if (locality.tier === 'district') {
    reasons.push(`${service.code} is a district (lower-tier) service → stays with ${describe(locality.gss)}`)
  } else if (locality.tier !== 'county') {
    reasons.push(`${describe(locality.gss)} is single-tier and handles ${service.code}`)
  }
  const partnership = locality.partnerships[0] ?? partnershipHint ?? owner.partnerships[0] ?? null
  return routed(cat, service, serviceReason, owner.gss, partnership, reasons)
}

function routed(cat: Catalogue, service: Service, serviceReason: string, councilGss: string, partnershipId: string | null, reasons: string[]): Placement {
  const council = cat.councils.get(councilGss)
  const destination = cat.destinationFor(councilGss, service.code)
  const slaHours = destination?.slaHours ?? council?.defaultSlaHours ?? 72
  reasons.push(
    destination
      ? `back office: ${destination.team} (${destination.kind}), SLA ${slaHours} h`
      : `no back-office destination configured for ${service.code}; the case waits in the council's queue, SLA ${slaHours} h`
  )
  return { kind: 'routed', service, serviceReason, councilGss, partnershipId, destination, slaHours, reason: reasons.join('; ') }
}

/** The service a case is for, and why: the one the resident chose, else the catalogue's keywords, else a general enquiry. */
export function chooseService(cat: Catalogue, facts: Pick<CaseFacts, 'requestedServiceCode' | 'description'>): { service: Service; serviceReason: string } {
  const requested = facts.requestedServiceCode ? cat.services.get(facts.requestedServiceCode) : undefined
  if (requested) return { service: requested, serviceReason: `service chosen by the resident → ${requested.code} (${requested.name})` }
  const general = cat.services.get(GENERAL)
  const found = classifyService(facts.description, [...cat.services.values()].filter((s) => s.code !== GENERAL))
  if (found) {
    const words = found.matched.map((m) => `"${m}"`).join(', ')
    return { service: found.service, serviceReason: `the description mentions ${words} → ${found.service.code} (${found.service.name})` }
  }
  if (!general) throw new Error(`the service catalogue has no ${GENERAL} service`)
  return { service: general, serviceReason: `no service keyword in the description → ${GENERAL} (${general.name})` }
}

/** Which council of a locality handles a service: the county for upper-tier services in two-tier areas. */
function ownerFor(cat: Catalogue, locality: Council | undefined, service: Service): Council | undefined {
  if (!locality) return undefined
  if (locality.tier === 'district' && service.tier === 'upper' && locality.countyGss) return cat.councils.get(locality.countyGss)
  return locality
}

function partnershipOf(cat: Catalogue, gssCodes: string[]): string | null {
  for (const gss of gssCodes) {
    const p = cat.councils.get(gss)?.partnerships[0]
    if (p) return p
  }
  return null
}
