import Type from 'typebox'
import { relayNow } from '../../../jobs/outbox-relay.js'
import { accessOf } from '../../../open311/access.js'
import { Open311Error, sendList, type Format } from '../../../open311/format.js'
import { open311Contact } from '../../../open311/inbound.js'
import { explainRefusal, requestTarget } from '../../../open311/jurisdiction-services.js'
import { listRequests } from '../../../open311/records.js'
import { Created, JurisdictionQuery, PostRequestBody, RequestRecord, RequestsQuery, TokenAnswer } from '../../../open311/schemas.js'
import { commaList, describeFor, errors, MAX_RESULTS, OPEN311_BODY_LIMIT, recordKeyReads, recordOf, windowOf, type Open311App, type Open311Context } from './shared.js'

/** Reporting a problem, and reading requests back (the public's view without a key). */
export function requestCalls(app: Open311App, ctx: Open311Context, fmt: Format) {
  const { db, catalogue, queues, config, intakePressure } = app
  const { intake, anyone, poster } = ctx
  const describe = describeFor(fmt)

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
}
