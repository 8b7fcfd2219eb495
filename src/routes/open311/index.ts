import formbody from '@fastify/formbody'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { casesByReference, recordRequestReads, type CaseRead } from '../../data-protection/access-log.js'
import type { Infra } from '../../infra.js'
import type { IntakeBatcher } from '../../intake/intake-batcher.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { accessOf, open311Access } from '../../open311/access.js'
import { open311ErrorHandler } from '../../open311/errors.js'
import { FORMATS, Open311Error, sendError, sendList, toXmlDocument, type Format } from '../../open311/format.js'
import { open311Contact } from '../../open311/inbound.js'
import { findCaseOf, listRequests, listUpdates, type RequestRow } from '../../open311/records.js'
import { readPublicUpdate, recordPublicUpdate } from '../../open311/public-updates.js'
import { publicLocation } from '../../open311/public-location.js'
import {
  Created,
  Discovery,
  ErrorList,
  JurisdictionQuery,
  PostRequestBody,
  PostUpdateBody,
  RequestRecord,
  RequestsQuery,
  ServiceDefinition,
  ServiceItem,
  TokenAnswer,
  UpdateRecord,
  UpdatesQuery
} from '../../open311/schemas.js'
import { attributesOf, offeredService, serviceList } from '../../open311/service-definitions.js'
import { explainRefusal, requestTarget } from '../../open311/jurisdiction-services.js'

const MAX_RESULTS = 1000
const OPEN311_BODY_LIMIT = 1_048_576
const WINDOW_MS = 90 * 24 * 3600 * 1000
const TAGS = ['open311']
const errors = { 400: ErrorList, 403: ErrorList, 404: ErrorList }
const CHANGESET = '2025-01-01T00:00:00Z'

/**
 * The time window of a list call: at most 90 days; by default the last 90 days, or the 90
 * days from the start given.
 */
function windowOf(q: { start_date?: string; end_date?: string }): { start: Date; end: Date } {
  const end = q.end_date ? new Date(q.end_date) : q.start_date ? new Date(Math.min(Date.parse(q.start_date) + WINDOW_MS, Date.now())) : new Date()
  const start = q.start_date ? new Date(q.start_date) : new Date(end.getTime() - WINDOW_MS)
  if (start > end) throw new Open311Error(400, 'start_date is after end_date')
  if (end.getTime() - start.getTime() > WINDOW_MS) throw new Open311Error(400, 'start_date and end_date are at most 90 days apart')
  return { start, end }
}

/**
 * Records a council key's read of these cases before the answer goes. A keyless call reads
 * nothing personal (recordOf gives it no reporter, words, address or photo) and is nobody
 * the log could name, so it records nothing.
 */
async function recordKeyReads(db: Infra['db'], req: FastifyRequest, gss: string, rows: Pick<RequestRow, 'id' | 'reference'>[]): Promise<void> {
  if (!accessOf(req).key) return
  // a case is the jurisdiction's (placed with it, or sent to it and not yet placed)
  await recordRequestReads(db, req, rows.map((r): CaseRead => ({ id: r.id, reference: r.reference, council_gss: gss })))
}

const commaList = (v: string | undefined) =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean) ?? null

/**
 * A case as an Open311 record. With the council's key, all of it; without, what a street
 * problem shows the public: never who reported it nor their words (residents write their
 * names into descriptions), the service name standing for the description, and for a
 * problem at a home no more of where than the outward code and a 100 m square.
 */
function recordOf(row: RequestRow, full: boolean): RequestRecord {
  const where = full ? { zipcode: row.postcode, lat: row.lat, long: row.lng } : publicLocation(row.location_kind, row)
  return {
    service_request_id: row.reference,
    status: row.status === 'resolved' ? 'closed' : 'open',
    status_notes: full ? row.status_notes : null,
    service_name: row.service_name,
    service_code: row.service_code,
    description: full ? row.description.slice(0, 4000) : row.service_name,
    agency_responsible: row.council_name,
    service_notice: null,
    requested_datetime: row.created_at.toISOString(),
    updated_datetime: row.updated_at.toISOString(),
    expected_datetime: row.sla_due_at?.toISOString() ?? null,
    // a street address or photo can show whose home it is: with the council's key only
    address: full ? row.address : null,
    address_id: full ? row.address_id : null,
    zipcode: where.zipcode,
    lat: where.lat,
    long: where.long,
    media_url: full ? row.media_url : null
  }
}

/**
 * Open311 GeoReport v2 under /open311/v2, every call in JSON and XML (the path's extension
 * picks), plus mySociety's service request updates. jurisdiction_id is a council's GSS code.
 * An access boundary of its own: its own body parser (forms only), key checks and errors.
 */
export async function open311Routes(fastify: FastifyInstance, opts: { infra: Infra; intake: IntakeBatcher }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, catalogue, queues, config, intakePressure } = opts.infra
  const { intake } = opts

  // POST bodies are forms, as the standard has them; JSON and the rest are refused (400)
  app.removeAllContentTypeParsers()
  await app.register(formbody)
  app.setErrorHandler(open311ErrorHandler)
  app.setNotFoundHandler((req, reply) => sendError(reply, req.url.split('?', 1)[0]!.endsWith('.xml') ? 'xml' : 'json', 404, 'No such Open311 call'))

  const limits = fastify.requestLimits.apiKey
  const anyone = open311Access(db, catalogue, { key: 'optional', scopes: ['read', 'open311'], limits })
  const poster = open311Access(db, catalogue, { key: 'required', scopes: ['open311'], limits })
  const reader = open311Access(db, catalogue, { key: 'required', scopes: ['read', 'open311'], limits })

  // The read log: GET requests (with a key) and GET servicerequestupdates record a read of
  // each case they answer; discovery, services, tokens and the POSTs answer nothing of a
  // resident's (a reference, an update id) and record none.
  for (const fmt of FORMATS) {
    const xml = fmt === 'xml'
    const produces = xml ? 'text/xml' : 'application/json'
    const describe = (summary: string) => ({ summary: `${summary} (${fmt.toUpperCase()})`, tags: TAGS, produces: [produces] })

    app.get(`/discovery.${fmt}`, { schema: { ...describe('Where this endpoint is and what it speaks'), response: { 200: Discovery } } }, async (_req, reply) => {
      const doc = {
        changeset: CHANGESET,
        contact: `See ${config.PUBLIC_BASE_URL}/docs`,
        key_service: 'Ask the operator of this service for a council API key with the open311 scope',
        endpoints: [
          { specification: 'http://wiki.open311.org/GeoReport_v2', url: `${config.PUBLIC_BASE_URL}/open311/v2`, changeset: CHANGESET, type: 'production', formats: ['application/json', 'text/xml'] }
        ]
      }
      return send(reply, fmt, doc, 'discovery', { endpoints: 'endpoint', formats: 'format' })
    })

    app.get(
      `/services.${fmt}`,
      {
        preValidation: anyone,
        schema: {
          ...describe('The services a council takes requests for'),
          description:
            "The services the council delivers: a county its upper-tier ones (roads, lighting, care), a district its lower-tier ones (bins, streets, housing), a single-tier council all, plus any it has a back office of its own for. Without a key: only the public ones (clients such as FixMyStreet show each as a public category); with the council's key (open311 or read scope): all. keywords starts with lgsl:NNN, the service's Local Government Service List code, when it has one. metadata is true only for a service with questions of its own (GET /services/{service_code}).",
          querystring: JurisdictionQuery,
          response: { 200: Type.Array(ServiceItem), ...errors }
        }
      },
      async (req, reply) => {
        const { jurisdiction, key } = accessOf(req)
        return sendList(reply, fmt, 'services', serviceList(catalogue, jurisdiction, Boolean(key)))
      }
    )

    app.get(
      `/services/:service_code.${fmt}`,
      {
        preValidation: anyone,
        schema: {
          ...describe('The questions a service asks (its attributes)'),
          description: "404 for a service the council does not list (see GET /services): one it does not deliver, or, without the council's key, one that is not public. A service with no questions of its own answers an empty attributes list.",
          params: Type.Object({ service_code: Type.String({ maxLength: 64 }) }),
          querystring: JurisdictionQuery,
          response: { 200: ServiceDefinition, ...errors }
        }
      },
      async (req, reply) => {
        const { jurisdiction, key } = accessOf(req)
        // one not listed answers as one that does not exist
        if (!offeredService(catalogue, jurisdiction, req.params.service_code, Boolean(key))) throw new Open311Error(404, 'No service has this service_code')
        const doc = { service_code: req.params.service_code, attributes: attributesOf(req.params.service_code) }
        return send(reply, fmt, doc, 'service_definition', { attributes: 'attribute', values: 'value' })
      }
    )

    app.post(
      `/requests.${fmt}`,
      {
        // the key is checked before the form is validated: a caller without one learns nothing
        preValidation: poster,
        // a FixMyStreet report is as long as its author made it, percent-encoded (up to 9
        // bytes a character): room for one of 100,000 characters, whatever the API's limit
        bodyLimit: Math.max(config.BODY_LIMIT_BYTES, OPEN311_BODY_LIMIT),
        schema: {
          ...describe('Report a problem: creates a case, routed and delivered like every channel'),
          description:
            'Form body (application/x-www-form-urlencoded). FixMyStreet clients may send deviceid, attribute[uprn] and address_id=#NOTPINPOINTED#. A service the council does not deliver (a missed bin sent to a county) is passed to the council that does when the location (lat and long, or a postcode in address_string) places it with one, and service_notice says so; otherwise 400 naming the councils that handle it. service_notice names a council only when the case will be routed to it.',
          consumes: ['application/x-www-form-urlencoded'],
          body: PostRequestBody,
          response: { 200: Created, ...errors }
        }
      },
      async (req, reply) => {
        const { jurisdiction, key } = accessOf(req)
        if (intake.saturated()) throw new Open311Error(503, 'Too many reports are arriving at once; retry shortly')
        const contact = explainRefusal(catalogue, jurisdiction, req.body.service_code, () => open311Contact(req.body, jurisdiction.gss, key!, catalogue))
        // a service the jurisdiction does not deliver goes to the council that does, or is refused
        const target = await requestTarget(db, catalogue, jurisdiction, contact)
        const done = intakePressure.begin()
        const result = await intake.submit({ ...contact, councilGss: target.councilGss }).finally(done)
        if (result.outbox) relayNow(queues, result.outbox, req.log)
        req.log.info({ caseReference: result.reference, apiKeyId: key!.id }, 'open311 request accepted')
        return sendList(reply, fmt, 'requests', [{ service_request_id: result.reference, service_notice: target.notice(result.reference), account_id: null }])
      }
    )

    app.get(
      `/requests.${fmt}`,
      {
        preValidation: anyone,
        schema: {
          ...describe('Requests of a council, newest first, at most 1000'),
          description:
            "Without a key: only public services' requests, without personal data; a problem at a home (a service whose location_kind is not street) gives only its outward code and coordinates rounded to about 100 m. With the council's key: all its requests.",
          querystring: RequestsQuery,
          response: { 200: Type.Array(RequestRecord), ...errors }
        }
      },
      async (req, reply) => {
        const { jurisdiction, key } = accessOf(req)
        const references = commaList(req.query.service_request_id)?.slice(0, MAX_RESULTS) ?? null
        const window = references?.length ? null : windowOf(req.query)
        const rows = await listRequests(db, {
          jurisdiction: jurisdiction.gss,
          publicOnly: !key,
          references,
          serviceCodes: commaList(req.query.service_code),
          start: window?.start,
          end: window?.end,
          status: req.query.status === 'open' || req.query.status === 'closed' ? req.query.status : null,
          limit: MAX_RESULTS
        })
        await recordKeyReads(db, req, jurisdiction.gss, rows)
        return sendList(reply, fmt, 'requests', rows.map((r) => recordOf(r, Boolean(key))))
      }
    )

    app.get(
      `/requests/:service_request_id.${fmt}`,
      {
        preValidation: anyone,
        schema: {
          ...describe('One request, as a list of one'),
          params: Type.Object({ service_request_id: Type.String({ maxLength: 64 }) }),
          querystring: JurisdictionQuery,
          response: { 200: Type.Array(RequestRecord), ...errors }
        }
      },
      async (req, reply) => {
        const { jurisdiction, key } = accessOf(req)
        const [row] = await listRequests(db, { jurisdiction: jurisdiction.gss, publicOnly: !key, references: [req.params.service_request_id.toUpperCase()], limit: 1 })
        // one that is not public answers as one that does not exist
        if (!row) throw new Open311Error(404, 'No request with this id')
        await recordKeyReads(db, req, jurisdiction.gss, [row])
        return sendList(reply, fmt, 'requests', [recordOf(row, Boolean(key))])
      }
    )

    app.get(
      `/tokens/:token.${fmt}`,
      {
        preValidation: anyone,
        schema: {
          ...describe('The request id for a token: ours are given at once, so a token is the id'),
          params: Type.Object({ token: Type.String({ maxLength: 64 }) }),
          querystring: JurisdictionQuery,
          response: { 200: TokenAnswer, ...errors }
        }
      },
      async (req, reply) => {
        const { jurisdiction, key } = accessOf(req)
        const [row] = await listRequests(db, { jurisdiction: jurisdiction.gss, publicOnly: !key, references: [req.params.token.toUpperCase()], limit: 1 })
        if (!row) throw new Open311Error(404, 'No request with this token')
        // answers the reference twice, nothing of the resident's: no read recorded
        return sendList(reply, fmt, 'tokens', [{ service_request_id: row.reference, token: row.reference }])
      }
    )

    app.get(
      `/servicerequestupdates.${fmt}`,
      {
        preValidation: reader,
        schema: {
          ...describe("The council's status updates on its requests (mySociety extension)"),
          description: "Only the council's own updates (set through the case API); comments from the public posted here are never listed back.",
          querystring: UpdatesQuery,
          response: { 200: Type.Array(UpdateRecord), ...errors }
        }
      },
      async (req, reply) => {
        const { jurisdiction } = accessOf(req)
        const { start, end } = windowOf(req.query)
        const rows = await listUpdates(db, jurisdiction.gss, start, end, MAX_RESULTS)
        // an update's description is written to the resident and may be about them (docs/data-protection.md, case_updates): a read of each case named
        await recordRequestReads(db, req, await casesByReference(db, rows.map((u) => u.reference)))
        const updates = rows.map((u) => ({
          update_id: u.update_id,
          service_request_id: u.reference,
          status: u.status.toLowerCase(),
          updated_datetime: u.updated_at.toISOString(),
          description: u.description,
          media_url: '',
          ...(u.external_status_code ? { external_status_code: u.external_status_code } : {})
        }))
        return sendList(reply, fmt, 'updates', updates)
      }
    )

    app.post(
      `/servicerequestupdates.${fmt}`,
      {
        preValidation: poster,
        schema: {
          ...describe("A comment from the public on a request, as FixMyStreet posts one (mySociety extension)"),
          description:
            "Form body. In mySociety's extension a client's update is the public's: it becomes a message on the case from the person named (email and name as claims), which agents see and the council's webhooks get as message.created. Its status (upper case: OPEN, REOPEN, FIXED, CLOSED, …) is kept as that person's view: it never changes the case's status, never resolves it, and nothing is sent to the resident. Council systems set statuses through the case API (POST /v1/cases/{ref}/updates). update_id (or FixMyStreet's update_id_ext) is the client's own: the same one again on the same request from the same key is a no-op; on another request it is another comment.",
          consumes: ['application/x-www-form-urlencoded'],
          body: PostUpdateBody,
          response: { 200: Type.Array(Type.Object({ update_id: Type.String() })), ...errors }
        }
      },
      async (req, reply) => {
        const { jurisdiction, key } = accessOf(req)
        const update = readPublicUpdate(req.body)
        const found = await findCaseOf(db, req.body.service_request_id, [jurisdiction.gss])
        if (!found) throw new Open311Error(404, 'No request with this service_request_id')
        const { recorded } = await recordPublicUpdate(db, found.id, update, jurisdiction.gss, key!)
        req.log.info({ caseReference: found.reference, apiKeyId: key!.id, recorded }, 'open311 public update')
        return sendList(reply, fmt, 'updates', [{ update_id: update.updateId }])
      }
    )
  }
}

/** A single document: the JSON object, or the XML root holding its fields. */
function send(reply: import('fastify').FastifyReply, fmt: Format, doc: Record<string, unknown>, root: string, lists: Record<string, string>) {
  if (fmt === 'json') return reply.type('application/json; charset=utf-8').send(doc)
  return reply.type('text/xml; charset=utf-8').send(toXmlDocument(root, doc, lists))
}
