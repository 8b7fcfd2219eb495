import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { applyCouncilUpdate } from '../../cases/council-updates.js'
import { addCouncilNote, caseMessagesAndEvents, findCouncilCase, listCouncilCases, updateCouncilFields } from '../../councils/council-cases.js'
import { recordRequestReads } from '../../data-protection/access-log.js'
import { AppError } from '../../errors.js'
import { relayNow } from '../../jobs/outbox-relay.js'
import { MultiLine, Nullable, StringEnum } from '../../lib/schema.js'
import { normaliseUprn, normaliseUsrn } from '../../lib/uk-identifiers.js'
import { requireScope } from '../../plugins/api-key-auth.js'
import { ErrorBody } from '../../plugins/error-handler.js'
import { CaseDetail, CaseFields, CaseView, councilView, CouncilUpdate, decodeCursor, encodeCursor, errors, ListQuery, Params, security } from './case-schemas.js'

/**
 * The case API for council systems, each with its own key (`Authorization: Bearer sbk_…`):
 * a council's key sees only the cases placed with that council, a partnership operator's key
 * those of its member councils; any other case is 404, as if it did not exist. Counted per
 * key against RATE_LIMIT_API_KEY_PER_MIN.
 */
export async function caseRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, catalogue, queues, config } = app
  const limits = app.requestLimits.apiKey
  // the key was identified once for the context (councilsBoundary); each route needs its scope, then its rate limit
  const read = [requireScope(db, 'read'), ...limits]
  const write = [requireScope(db, 'write'), ...limits]
  const councilsOf = (req: FastifyRequest) => req.apiKey!.councils
  const actorOf = (req: FastifyRequest) => `api-key:${req.apiKey!.id}`
  const mine = async (req: FastifyRequest & { params: { reference: string } }) => {
    const found = await findCouncilCase(db, councilsOf(req), req.params.reference.toUpperCase())
    if (!found) throw new AppError('not_found', { message: 'No case with this reference' })
    return found
  }

  app.get(
    '/v1/cases',
    {
      onRequest: read,
      schema: {
        tags: ['council cases'],
        security,
        summary: "The council's cases, oldest change first, a page at a time",
        description: 'Sync by asking with `updated_since` and following `next_cursor` until it is null.',
        querystring: ListQuery,
        response: { 200: Type.Object({ cases: Type.Array(CaseView), next_cursor: Nullable(Type.String()) }), ...errors }
      }
    },
    async (req) => {
      const q = req.query
      const cases = await listCouncilCases(db, {
        councils: councilsOf(req),
        status: q.status,
        service: q.service,
        reference: q.reference?.toUpperCase(),
        // as stored: plain digits, without the leading zeros some systems pad with
        uprn: q.uprn === undefined ? undefined : (normaliseUprn(q.uprn) ?? q.uprn),
        usrn: q.usrn === undefined ? undefined : (normaliseUsrn(q.usrn) ?? q.usrn),
        updatedSince: q.updated_since ? new Date(q.updated_since) : undefined,
        after: q.cursor ? decodeCursor(q.cursor) : undefined,
        limit: q.limit
      })
      // every case listed is a read of its resident's details (docs/data-protection.md): recorded before the answer goes
      await recordRequestReads(db, req, cases)
      const last = cases[cases.length - 1]
      return { cases: cases.map(councilView), next_cursor: last && cases.length === q.limit ? encodeCursor(last) : null }
    }
  )

  app.get(
    '/v1/cases/:reference',
    {
      onRequest: read,
      schema: {
        tags: ['council cases'],
        security,
        summary: 'One case with its messages and events',
        description: "The events are the case's progress and the council's own: never the contact centre's internal notes, transfers, merges, assignment or SLA clocks.",
        params: Params,
        response: { 200: CaseDetail, ...errors }
      }
    },
    async (req) => {
      const c = await mine(req)
      const detail = { ...councilView(c), ...(await caseMessagesAndEvents(db, c.id)) }
      await recordRequestReads(db, req, [c])
      return detail
    }
  )

  app.patch(
    '/v1/cases/:reference',
    {
      onRequest: write,
      schema: {
        tags: ['council cases'],
        security,
        summary: "Set the case's status (as the council's system sees it), its priority or the council's own reference",
        description: 'A status here is recorded like a status update, but the resident is not told; post to /updates for that.',
        params: Params,
        body: CaseFields,
        response: { 200: CaseView, 422: ErrorBody, ...errors }
      }
    },
    async (req) => {
      const c = await mine(req)
      await updateCouncilFields(
        db,
        c.id,
        {
          priority: req.body.priority,
          councilReference: req.body.council_reference,
          uprn: req.body.uprn === undefined ? undefined : (normaliseUprn(req.body.uprn) ?? undefined),
          usrn: req.body.usrn === undefined ? undefined : (normaliseUsrn(req.body.usrn) ?? undefined)
        },
        actorOf(req)
      )
      if (req.body.status) {
        await applyCouncilUpdate({ db, catalogue, emailDomain: config.EMAIL_DOMAIN, mailFrom: config.MAIL_FROM }, c.id, { status: req.body.status, description: '', forResident: false, source: actorOf(req) })
      }
      // the answer is the whole case view, resident's details included: a read like GET
      const updated = (await findCouncilCase(db, councilsOf(req), c.reference))!
      await recordRequestReads(db, req, [updated])
      return councilView(updated)
    }
  )

  app.post(
    '/v1/cases/:reference/notes',
    {
      onRequest: write,
      schema: {
        tags: ['council cases'],
        security,
        summary: 'Add an internal note (never sent to the resident)',
        params: Params,
        body: Type.Object({ body: MultiLine({ minLength: 1, maxLength: 4000 }) }, { additionalProperties: false, examples: [{ body: 'Crew informed; bin to be collected tomorrow.' }] }),
        response: { 201: Type.Object({ added: Type.Literal(true) }), ...errors }
      }
    },
    async (req, reply) => {
      // answers { added } only: no personal data shown, no read recorded
      const c = await mine(req)
      await addCouncilNote(db, c.id, req.body.body.trim(), actorOf(req))
      return reply.code(201).send({ added: true as const })
    }
  )

  app.post(
    '/v1/cases/:reference/updates',
    {
      onRequest: write,
      schema: {
        tags: ['council cases'],
        security,
        summary: 'Post a status update; meant for the resident unless for_resident is false',
        description:
          "The resident is told on the channel they used (a text to a case that came by text; an email to one that came by email or the web with an email address), in the council's wording for that status (template status_update), through the outbound queue. This is where a council system sets a case's status: Open311's POST servicerequestupdates takes comments from the public (FixMyStreet's users), never the council's status. An update_id is the caller's own: the same one again from the same key on the same case changes nothing; on another case it is another update. Line ends are stored as LF.",
        params: Params,
        body: CouncilUpdate,
        response: {
          201: Type.Object({ update_id: Type.String(), applied: Type.Boolean(), resident_told_by: StringEnum(['sms', 'email', 'not_asked', 'no_channel']) }),
          ...errors
        }
      }
    },
    async (req, reply) => {
      // answers the update's id and how the resident was told, nothing of theirs: no read recorded
      const c = await mine(req)
      const done = await applyCouncilUpdate({ db, catalogue, emailDomain: config.EMAIL_DOMAIN, mailFrom: config.MAIL_FROM }, c.id, {
        status: req.body.status,
        description: (req.body.description ?? '').trim(),
        forResident: req.body.for_resident,
        updateId: req.body.update_id ?? null,
        source: actorOf(req)
      })
      for (const row of done.outbox) relayNow(queues, row, req.log)
      return reply.code(201).send({ update_id: done.updateId, applied: done.applied, resident_told_by: done.told })
    }
  )
}
