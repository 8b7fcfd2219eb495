import type { Catalogue, Council, CouncilTier, Service } from '../catalogue/catalogue.js'
import { Open311Error } from './format.js'
import { NEVER_PUBLIC } from './records.js'

/** One Open311 service attribute (a form field a client shows for the service). */
export interface ServiceAttribute {
  variable: boolean
  code: string
  datatype: 'string' | 'number' | 'datetime' | 'text' | 'singlevaluelist' | 'multivaluelist'
  required: boolean
  datatype_description: string | null
  order: number
  description: string
  values?: { key: string; name: string }[]
}

const list = (pairs: [string, string][]) => pairs.map(([key, name]) => ({ key, name }))

/** The questions some services ask, in the order a client should show them. */
const EXTRA: Record<string, Omit<ServiceAttribute, 'order'>[]> = {
  missed_bin: [
    {
      variable: true,
      code: 'bin_type',
      datatype: 'singlevaluelist',
      required: true,
      datatype_description: null,
      description: 'Which bin was missed?',
      values: list([['general', 'General waste'], ['recycling', 'Recycling'], ['garden', 'Garden waste'], ['food', 'Food waste']])
    }
  ],
  bulky_waste: [
    { variable: true, code: 'items', datatype: 'text', required: false, datatype_description: null, description: 'What items are to be collected?' }
  ],
  fly_tipping: [
    {
      variable: true,
      code: 'waste_type',
      datatype: 'multivaluelist',
      required: false,
      datatype_description: null,
      description: 'What has been dumped?',
      values: list([['household', 'Household rubbish'], ['furniture', 'Furniture'], ['building', 'Building rubble'], ['hazardous', 'Chemicals, asbestos or needles'], ['other', 'Something else']])
    }
  ],
  pothole: [
    {
      variable: true,
      code: 'depth',
      datatype: 'singlevaluelist',
      required: false,
      datatype_description: null,
      description: 'How deep is it?',
      values: list([['shallow', 'Less than 4 cm'], ['deep', '4 cm or more']])
    }
  ],
  street_light: [
    { variable: true, code: 'column_number', datatype: 'string', required: false, datatype_description: 'The number on the lamp post', description: 'Lamp post number' }
  ]
}

/**
 * The questions a service asks, in order; none for most. A property or street reference
 * (attribute[uprn], attribute[usrn]) is taken when a client sends one but is not asked:
 * asking it of every service would put a UPRN box on every category a client shows.
 */
export function attributesOf(serviceCode: string): ServiceAttribute[] {
  return (EXTRA[serviceCode] ?? []).map((a, i) => ({ ...a, order: i + 1 }))
}

/** Whether a client has more to ask than the description (Open311's metadata flag). */
export function hasAttributes(serviceCode: string): boolean {
  return attributesOf(serviceCode).length > 0
}

const TIER_GROUP: Record<Service['tier'], string> = {
  upper: 'Highways, roads and county services',
  lower: 'Waste, streets and district services',
  any: 'General'
}

/**
 * The services list entry for one catalogue service. Its LGSL code leads the keywords as
 * `lgsl:NNN`, so a client comparing councils can match services without our codes.
 */
export function serviceEntry(s: Service) {
  return {
    service_code: s.code,
    service_name: s.name,
    description: s.name,
    metadata: hasAttributes(s.code),
    type: 'realtime' as const,
    keywords: [...(s.lgsl ? [`lgsl:${s.lgsl}`] : []), ...s.keywords].join(','),
    group: TIER_GROUP[s.tier]
  }
}

// Which tiers of service each kind of council delivers; a single-tier council delivers all.
const TIERS_DELIVERED: Record<CouncilTier, readonly Service['tier'][]> = {
  county: ['upper', 'any'],
  district: ['lower', 'any'],
  unitary: ['upper', 'lower', 'any'],
  london_borough: ['upper', 'lower', 'any'],
  metropolitan_borough: ['upper', 'lower', 'any']
}

/**
 * Whether a council delivers a service: one of its tier (a county the upper-tier ones, a
 * district the lower-tier ones, a single-tier council every one), or one it has a
 * back-office destination of its own for. The one rule behind the services list, the
 * service definitions and which POST /requests a jurisdiction takes.
 */
export function delivers(cat: Catalogue, council: Council, service: Service): boolean {
  return TIERS_DELIVERED[council.tier].includes(service.tier) || cat.destinations.has(`${council.gss}|${service.code}`)
}

/** Whether a service's requests may be shown to anyone: marked public, and never one of NEVER_PUBLIC. */
export function isPublicService(service: Service): boolean {
  return service.public && !(NEVER_PUBLIC as readonly string[]).includes(service.code)
}

/**
 * The service a jurisdiction offers under this code, or null: not one it delivers, or,
 * without a key of the council's (`keyed` false), not a public one. FixMyStreet reads the
 * keyless list and shows every entry as a public category, so a council tax or care
 * service must not be in it.
 */
export function offeredService(cat: Catalogue, council: Council, code: string, keyed: boolean): Service | null {
  const service = cat.services.get(code)
  if (!service || !delivers(cat, council, service)) return null
  return keyed || isPublicService(service) ? service : null
}

/** The services list of a jurisdiction, in a stable order (see offeredService). */
export function serviceList(cat: Catalogue, council: Council, keyed: boolean) {
  return [...cat.services.keys()]
    .sort((a, b) => a.localeCompare(b))
    .flatMap((code) => offeredService(cat, council, code, keyed) ?? [])
    .map(serviceEntry)
}

/** The attribute answers of a POST, by attribute code: `attribute[code]=v` and `attribute[code][]=v`. */
export function attributesGiven(body: Record<string, unknown>): Map<string, string[]> {
  const given = new Map<string, string[]>()
  for (const [key, value] of Object.entries(body)) {
    const m = /^attribute\[([^\]]+)\](\[\])?$/.exec(key)
    if (!m) continue
    const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string').map((v) => v.trim()).filter(Boolean)
    given.set(m[1]!, [...(given.get(m[1]!) ?? []), ...values])
  }
  return given
}

/**
 * Checks the answers against the service's attributes (required ones given, list values
 * among the keys, one value for a single-value one) and returns them in words for the case
 * text, e.g. "Which bin was missed?: Recycling". Answers to questions the service does not
 * ask are ignored, as the standard lets clients send extra ones.
 */
export function checkAttributes(serviceCode: string, given: Map<string, string[]>): { words: string[]; values: Record<string, string | string[]> } {
  const words: string[] = []
  const values: Record<string, string | string[]> = {}
  for (const a of attributesOf(serviceCode)) {
    const answers = given.get(a.code) ?? []
    if (!answers.length) {
      if (a.required) throw new Open311Error(400, `attribute[${a.code}] is required for ${serviceCode}`)
      continue
    }
    if (a.datatype !== 'multivaluelist' && answers.length > 1) throw new Open311Error(400, `attribute[${a.code}] takes one value`)
    if (a.values) {
      const names = new Map(a.values.map((v) => [v.key, v.name]))
      const unknown = answers.find((v) => !names.has(v))
      if (unknown !== undefined) throw new Open311Error(400, `attribute[${a.code}] must be one of ${a.values.map((v) => v.key).join(', ')}`)
      words.push(`${a.description}: ${answers.map((v) => names.get(v)).join(', ')}`)
    } else if (a.datatype === 'number' && answers.some((v) => !Number.isFinite(Number(v)))) {
      throw new Open311Error(400, `attribute[${a.code}] must be a number`)
    } else {
      words.push(`${a.description}: ${answers.join(', ')}`)
    }
    values[a.code] = a.datatype === 'multivaluelist' ? answers : answers[0]!
  }
  return { words, values }
}
