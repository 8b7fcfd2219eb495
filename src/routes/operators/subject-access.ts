import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { routeOf } from '../../data-protection/access-log.js'
import { exportResident } from '../../data-protection/export.js'
import { SUBJECT_ACCESS_SCHEMA_ID, SubjectAccessExport } from '../../data-protection/export-schema.js'
import { contactOf } from '../../data-protection/footprint.js'
import { SingleLine } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'

/** Subject access: everything held about a resident, as one JSON document. Registered inside operatorsBoundary, behind the operator key. */
export async function adminSubjectAccessRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db } = app
  // a shared schema (not inlined in the route), so the OpenAPI document publishes it once,
  // under components.schemas with the title SubjectAccessExport, for readers of exports to validate against
  app.addSchema(SubjectAccessExport)

  // POST, not GET: the contact travels in the body, so it never lands in a URL, a proxy's
  // access log or a browser's history
  app.post(
    '/v1/admin/residents/export',
    {
      schema: {
        tags: ['data protection'],
        security: [{ operatorKey: [] }],
        summary: 'Subject access: everything held about the person at an email address or phone number, as one JSON document',
        description:
          'Finds the resident who holds the contact, every resident an agent joined to them, their cases and any case reported with the contact, ' +
          'and returns their contact points (verified or claimed), cases, messages, attachments’ metadata, events with who acted, deliveries to council systems ' +
          'and every recorded read. The export is itself recorded as a read of each case. A contact nobody holds gives a document with empty lists. ' +
          'The same document comes from `npm run cli -- resident export --contact <email or phone>`; its JSON Schema is SubjectAccessExport.',
        body: Type.Object(
          { contact: SingleLine({ minLength: 3, maxLength: 254, description: 'An email address or a phone number, in any usual form', examples: ['resident@example.org', '07700 900123'] }) },
          { additionalProperties: false }
        ),
        response: { 200: Type.Ref(SUBJECT_ACCESS_SCHEMA_ID), 400: ErrorBody, 401: ErrorBody, 503: ErrorBody }
      }
    },
    async (req) => {
      const exported = await exportResident(db, contactOf(req.body.contact), { actor: 'operator', route: routeOf(req), requestId: req.id })
      // counts only: the contact and what was found are personal data
      req.log.info({ residents: exported.residents.length, cases: exported.cases.length }, 'subject access export')
      return exported
    }
  )
}
