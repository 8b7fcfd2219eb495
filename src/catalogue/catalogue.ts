import type { Db } from '../db/pool.js'
import { TEMPLATE_DEFAULTS, type TemplateKind } from '../messaging/templates.js'
import { minutesOf, type BusinessCalendar } from '../sla/business-hours.js'
import { clockTimes, type ClockTimes, type SlaTarget } from '../sla/clocks.js'

export type CouncilTier = 'london_borough' | 'metropolitan_borough' | 'unitary' | 'county' | 'district'

export interface Council {
  gss: string
  name: string
  shortName: string
  tier: CouncilTier
  countyGss: string | null
  defaultSlaHours: number
  partnerships: string[]
}

export interface Service {
  code: string
  name: string
  tier: 'upper' | 'lower' | 'any'
  keywords: string[]
  needsLocation: boolean
  /** whether its requests may be listed publicly (Open311 without a key) */
  public: boolean
  /** its Local Government Service List code (standards.esd.org.uk), when it has one */
  lgsl: number | null
}

export interface Destination {
  id: number
  councilGss: string
  serviceCode: string | null
  team: string
  kind: 'webhook' | 'email'
  slaHours: number | null
}

export interface InboundAddress {
  channel: string
  address: string
  councilGss: string | null
  partnershipId: string | null
}

/**
 * The reference data routing and validation consult on every contact, held in memory and
 * reloaded every 30 seconds (it changes when an operator edits configuration, not per
 * request), so a contact costs no extra queries for it.
 */
export class Catalogue {
  councils = new Map<string, Council>()
  services = new Map<string, Service>()
  /** key: `${council}|${service ?? ''}` */
  destinations = new Map<string, Destination>()
  /** key: `${channel}|${address}` */
  inboundAddresses = new Map<string, InboundAddress>()
  /** key: `${kind}|${council ?? ''}|${partnership ?? ''}|${status ?? ''}` */
  templates = new Map<string, string>()
  /** key: `${council}|${service ?? ''}` */
  slaTargets = new Map<string, SlaTarget>()
  /** each council's working week with its holidays; a council whose holiday calendar has no days loaded yet is left out */
  calendars = new Map<string, BusinessCalendar>()
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly db: Db, private readonly refreshMs = 30_000) {}

  async load(): Promise<void> {
    const [councils, members, services, destinations, inbound, templates, targets, holidays] = await Promise.all([
      this.db.query<{
        gss: string
        name: string
        short_name: string
        tier: CouncilTier
        county_gss: string | null
        default_sla_hours: number
        calendar: string
        business_days: number[]
        opens: string
        closes: string
        time_zone: string
      }>(
        `select gss, name, short_name, tier, county_gss, default_sla_hours, calendar, business_days,
                business_opens::text as opens, business_closes::text as closes, business_time_zone as time_zone
           from councils`
      ),
      this.db.query<{ partnership_id: string; council_gss: string }>('select partnership_id, council_gss from partnership_members order by partnership_id'),
      this.db.query<{ code: string; name: string; tier: Service['tier']; keywords: string[]; needs_location: boolean; public: boolean; lgsl: number | null }>(
        'select code, name, tier, keywords, needs_location, public, lgsl from services'
      ),
      this.db.query<{ id: number; council_gss: string; service_code: string | null; team: string; kind: Destination['kind']; sla_hours: number | null }>(
        'select id, council_gss, service_code, team, kind, sla_hours from destinations where active'
      ),
      this.db.query<{ channel: string; address: string; council_gss: string | null; partnership_id: string | null }>(
        'select channel, address, council_gss, partnership_id from inbound_addresses'
      ),
      this.db.query<{ kind: TemplateKind; council_gss: string | null; partnership_id: string | null; status: string | null; body: string }>(
        'select kind, council_gss, partnership_id, status, body from message_templates'
      ),
      this.db.query<{ council_gss: string; service_code: string | null; first_response_hours: number; resolution_hours: number }>(
        'select council_gss, service_code, first_response_hours, resolution_hours from sla_targets'
      ),
      this.db.query<{ calendar: string; day: string }>(`select calendar, to_char(day, 'YYYY-MM-DD') as day from bank_holidays`)
    ])
    const partnershipsOf = new Map<string, string[]>()
    for (const m of members.rows) partnershipsOf.set(m.council_gss, [...(partnershipsOf.get(m.council_gss) ?? []), m.partnership_id])
    this.councils = new Map(
      councils.rows.map((c) => [
        c.gss,
        { gss: c.gss, name: c.name, shortName: c.short_name, tier: c.tier, countyGss: c.county_gss, defaultSlaHours: c.default_sla_hours, partnerships: partnershipsOf.get(c.gss) ?? [] }
      ])
    )
    this.services = new Map(
      services.rows.map((s) => [
        s.code,
        { code: s.code, name: s.name, tier: s.tier, keywords: s.keywords, needsLocation: s.needs_location, public: s.public, lgsl: s.lgsl }
      ])
    )
    this.destinations = new Map(
      destinations.rows.map((d) => [
        `${d.council_gss}|${d.service_code ?? ''}`,
        { id: d.id, councilGss: d.council_gss, serviceCode: d.service_code, team: d.team, kind: d.kind, slaHours: d.sla_hours }
      ])
    )
    this.inboundAddresses = new Map(
      inbound.rows.map((a) => [`${a.channel}|${a.address}`, { channel: a.channel, address: a.address, councilGss: a.council_gss, partnershipId: a.partnership_id }])
    )
    this.templates = new Map(templates.rows.map((t) => [`${t.kind}|${t.council_gss ?? ''}|${t.partnership_id ?? ''}|${t.status ?? ''}`, t.body]))
    this.slaTargets = new Map(
      targets.rows.map((t) => [`${t.council_gss}|${t.service_code ?? ''}`, { firstResponseHours: t.first_response_hours, resolutionHours: t.resolution_hours }])
    )
    const daysOff = new Map<string, Set<string>>()
    for (const h of holidays.rows) daysOff.set(h.calendar, (daysOff.get(h.calendar) ?? new Set()).add(h.day))
    this.calendars = new Map(
      councils.rows.flatMap((c) => {
        const off = daysOff.get(c.calendar)
        return off
          ? [[c.gss, { timeZone: c.time_zone, days: c.business_days, opensMinute: minutesOf(c.opens), closesMinute: minutesOf(c.closes), holidays: off }] as const]
          : []
      })
    )
    if (!this.timer && this.refreshMs > 0) {
      this.timer = setInterval(() => void this.load().catch(() => {}), this.refreshMs)
      this.timer.unref()
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  /** The council's destination for this service, else its default one. */
  destinationFor(councilGss: string, serviceCode: string): Destination | null {
    return this.destinations.get(`${councilGss}|${serviceCode}`) ?? this.destinations.get(`${councilGss}|`) ?? null
  }

  /**
   * The SLA clocks of a case placed now with this council for this service (its target,
   * else the council's default; none without either), or null when the catalogue cannot
   * tell: the council's holiday calendar is not loaded yet (the SLA worker loads it on a
   * database without demo data), and the SLA worker's pass sets the clocks instead.
   */
  slaClocks(councilGss: string, serviceCode: string, contactedAt: Date): ClockTimes | null {
    const calendar = this.calendars.get(councilGss)
    if (!calendar) return null
    const target = this.slaTargets.get(`${councilGss}|${serviceCode}`) ?? this.slaTargets.get(`${councilGss}|`) ?? null
    return clockTimes(contactedAt, target, calendar)
  }

  inboundAddress(channel: string, address: string | null | undefined): InboundAddress | null {
    if (!address) return null
    return this.inboundAddresses.get(`${channel}|${address.toLowerCase()}`) ?? this.inboundAddresses.get(`${channel}|${address}`) ?? null
  }

  /**
   * The wording of an automatic text sent through one of our addresses: the template of the
   * council the address is dedicated to, else of its partnership, else the built-in one.
   */
  template(kind: TemplateKind, address: InboundAddress | null): string {
    const council = address?.councilGss ?? null
    const partnership = address?.partnershipId ?? (council ? this.councils.get(council)?.partnerships[0] : undefined) ?? null
    return (
      (council ? this.templates.get(`${kind}|${council}||`) : undefined) ??
      (partnership ? this.templates.get(`${kind}||${partnership}|`) : undefined) ??
      TEMPLATE_DEFAULTS[kind]
    )
  }

  /** A status update's wording for the resident: the council's for this status, then its general one, then the partnership's, then the built-in. */
  statusTemplate(councilGss: string | null, partnershipId: string | null, status: string): string {
    const partnership = partnershipId ?? (councilGss ? this.councils.get(councilGss)?.partnerships[0] : undefined) ?? null
    const keys = [
      councilGss && `status_update|${councilGss}||${status}`,
      councilGss && `status_update|${councilGss}||`,
      partnership && `status_update||${partnership}|${status}`,
      partnership && `status_update||${partnership}|`
    ]
    for (const key of keys) {
      const found = key ? this.templates.get(key) : undefined
      if (found) return found
    }
    return TEMPLATE_DEFAULTS.status_update
  }

  /** The mailbox residents write to for this council (else its partnership), to send from. */
  emailAddressOf(councilGss: string | null, partnershipId: string | null): string | null {
    let partnershipBox: string | null = null
    for (const a of this.inboundAddresses.values()) {
      if (a.channel !== 'email') continue
      if (councilGss && a.councilGss === councilGss) return a.address
      if (!partnershipBox && partnershipId && a.partnershipId === partnershipId && !a.councilGss) partnershipBox = a.address
    }
    return partnershipBox
  }

  /** "Hinckley and Bosworth Borough Council (E07000132, district)" */
  describe(gss: string): string {
    const c = this.councils.get(gss)
    return c ? `${c.name} (${gss}, ${c.tier.replace('_', ' ')})` : gss
  }
}
