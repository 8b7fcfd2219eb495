import type { FastifyReply, FastifyRequest } from 'fastify'
import { XMLBuilder } from 'fast-xml-parser'

/** Every Open311 call answers in the format its path ends with: `.json` or `.xml`. */
export type Format = 'json' | 'xml'
export const FORMATS: readonly Format[] = ['json', 'xml']

/** The format a request asked for, from its path; JSON when the path names none (an unknown route). */
export function formatOf(req: FastifyRequest): Format {
  const path = req.url.split('?', 1)[0] ?? ''
  return path.toLowerCase().endsWith('.xml') ? 'xml' : 'json'
}

/**
 * An answer in the standard's error shape, with the HTTP status equal to its code: 404 for
 * an unknown jurisdiction, service or request, 403 for a missing or wrong api_key, 400 for
 * everything else.
 */
export class Open311Error extends Error {
  constructor(
    readonly statusCode: 400 | 403 | 404 | 429 | 500 | 503,
    description: string
  ) {
    super(description)
    this.name = 'Open311Error'
  }
}

const builder = new XMLBuilder({ format: false, suppressEmptyNode: false })
const DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

type Item = Record<string, unknown>

/**
 * Turns one JSON item into XML-ready values: nulls and undefined become empty elements (the
 * XML form has no null), nested lists go through `lists` (JSON key → element name of each
 * entry, e.g. attributes → attribute, values → value).
 */
function xmlItem(item: Item, lists: Record<string, string>): Item {
  const out: Item = {}
  for (const [key, value] of Object.entries(item)) {
    if (value === undefined) continue
    if (Array.isArray(value)) {
      const child = lists[key] ?? 'item'
      out[key] = { [child]: value.map((v) => (v && typeof v === 'object' ? xmlItem(v as Item, lists) : v)) }
    } else if (value && typeof value === 'object') {
      out[key] = xmlItem(value as Item, lists)
    } else {
      out[key] = value ?? ''
    }
  }
  return out
}

/** `<root><element>…</element>…</root>`, as the standard names them. */
export function toXml(root: string, element: string, items: readonly Item[], lists: Record<string, string> = {}): string {
  return DECLARATION + builder.build({ [root]: { [element]: items.map((i) => xmlItem(i, lists)) } })
}

/** A single document (a service definition, the discovery) as XML. */
export function toXmlDocument(root: string, doc: Item, lists: Record<string, string> = {}): string {
  return DECLARATION + builder.build({ [root]: xmlItem(doc, lists) })
}

/** The element names of each kind of answer. */
export const XML_NAMES = {
  services: { root: 'services', element: 'service' },
  requests: { root: 'service_requests', element: 'request' },
  tokens: { root: 'service_requests', element: 'request' },
  updates: { root: 'service_request_updates', element: 'request_update' },
  errors: { root: 'errors', element: 'error' }
} as const

/** Sends a list: a top-level JSON array, or the XML root with one element per item. */
export function sendList(reply: FastifyReply, format: Format, kind: keyof typeof XML_NAMES, items: readonly Item[], status = 200) {
  if (format === 'json') return reply.code(status).type('application/json; charset=utf-8').send(items)
  const { root, element } = XML_NAMES[kind]
  return reply.code(status).type('text/xml; charset=utf-8').send(toXml(root, element, items))
}

/** Sends the standard error list: `[{"code": 404, "description": "…"}]` or `<errors><error>…`. */
export function sendError(reply: FastifyReply, format: Format, status: number, description: string) {
  if (status === 503) reply.header('retry-after', '5')
  return sendList(reply, format, 'errors', [{ code: status, description }], status)
}
