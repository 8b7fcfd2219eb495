import Type from 'typebox'
import { accessOf } from '../../../open311/access.js'
import { Open311Error, sendList, type Format } from '../../../open311/format.js'
import { Discovery, JurisdictionQuery, ServiceDefinition, ServiceItem } from '../../../open311/schemas.js'
import { attributesOf, offeredService, serviceList } from '../../../open311/service-definitions.js'
import { CHANGESET, describeFor, errors, send, type Open311App, type Open311Context } from './shared.js'

/** Discovery, the services a council takes requests for, and the questions each asks. */
export function serviceCalls(app: Open311App, ctx: Open311Context, fmt: Format) {
  const { catalogue, config } = app
  const { anyone } = ctx
  const describe = describeFor(fmt)

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
}
