import Type from 'typebox'
import { casesByReference, recordRequestReads } from '../../../data-protection/access-log.js'
import { accessOf } from '../../../open311/access.js'
import { Open311Error, sendList, type Format } from '../../../open311/format.js'
import { findCaseOf, listUpdates } from '../../../open311/records.js'
import { readPublicUpdate, recordPublicUpdate } from '../../../open311/public-updates.js'
import { PostUpdateBody, UpdateRecord, UpdatesQuery } from '../../../open311/schemas.js'
import { describeFor, errors, MAX_RESULTS, windowOf, type Open311App, type Open311Context } from './shared.js'

/** mySociety's service request updates: the council's status updates out, the public's comments in. */
export function updateCalls(app: Open311App, ctx: Open311Context, fmt: Format) {
  const { db } = app
  const { poster, reader } = ctx
  const describe = describeFor(fmt)

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
