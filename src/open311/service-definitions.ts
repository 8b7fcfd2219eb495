import type { Catalogue, Service } from '../routing/catalogue.js'
import { Open311Error } from './format.js'

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

// FixMyStreet sends the property reference of a report as attribute[uprn]; any service takes it.
const UPRN: Omit<ServiceAttribute, 'order'> = {
  variable: true,
  code: 'uprn',
  datatype: 'string',
  required: false,
  datatype_description: 'Unique Property Reference Number, up to 12 digits',
  description: 'The property the report is about, if known'
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

/** The attributes of a service: its own questions, then the UPRN every service takes. */
export function attributesOf(serviceCode: string): ServiceAttribute[] {
  return [...(EXTRA[serviceCode] ?? []), UPRN].map((a, i) => ({ ...a, order: i + 1 }))
}

/** Whether a client has more to ask than the description: every service takes a UPRN. */
export function hasAttributes(serviceCode: string): boolean {
  return attributesOf(serviceCode).length > 0
}

const TIER_GROUP: Record<Service['tier'], string> = {
  upper: 'Highways, roads and county services',
  lower: 'Waste, streets and district services',
  any: 'General'
}

/** The services list entry for one catalogue service. */
export function serviceEntry(s: Service) {
  return {
    service_code: s.code,
    service_name: s.name,
    description: s.name,
    metadata: hasAttributes(s.code),
    type: 'realtime' as const,
    keywords: s.keywords.join(','),
    group: TIER_GROUP[s.tier]
  }
}

/** Every service, in a stable order: every service here is offered by every council (tier picks who acts). */
export function serviceList(cat: Catalogue) {
  return [...cat.services.values()].sort((a, b) => a.code.localeCompare(b.code)).map(serviceEntry)
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
    if (answers.some((v) => v.length > 1000)) throw new Open311Error(400, `attribute[${a.code}] is too long`)
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
