import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { stringify } from 'csv-stringify/sync'
import Type from 'typebox'
import { AppError } from '../../errors.js'
import { StringEnum, Nullable } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'
import { caseReport, REPORT_COLUMNS, REPORT_DIMENSIONS } from '../../reports/case-report.js'

const DAY_MS = 86_400_000
const Day = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'a date, YYYY-MM-DD (UTC)' })
const Hours = Nullable(Type.Number({ description: 'business hours of the council' }))
const Row = Type.Object({
  key: Nullable(Type.String()),
  label: Type.String(),
  volume: Type.Integer(),
  resolved: Type.Integer(),
  first_response_median_hours: Hours,
  first_response_p90_hours: Hours,
  resolution_median_hours: Hours,
  resolution_p90_hours: Hours,
  sla_met_pct: Nullable(Type.Number()),
  reopen_rate_pct: Nullable(Type.Number()),
  csat_responses: Type.Integer(),
  csat_average: Nullable(Type.Number()),
  csat_satisfied_pct: Nullable(Type.Number({ description: 'ratings of 4 or 5' }))
})

/** Supervisors' reports (registered in their context): the partnership's cases over a date range, as JSON or CSV. */
export async function reportRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get(
    '/v1/supervisor/reports',
    {
      schema: {
        tags: ['supervisor'],
        security: [{ agentToken: [] }],
        summary: 'Cases opened in a date range, by council, service, channel, team or agent: volume, response and resolution times, SLA met, reopen rate, CSAT',
        description:
          'First response and resolution times are business hours of the case\'s council (median and 90th percentile), from the contact to the first reply and to the first resolution. ' +
          'SLA met: of the cases with a target, those that breached neither. Reopen rate: of the resolved cases, those reopened by an agent or by the resident writing again. ' +
          'CSAT: ratings given, their average, and the share of 4s and 5s. `format=csv` (or `Accept: text/csv`) answers CSV, the total last. Up to 366 days; default the last 30.',
        querystring: Type.Object({
          from: Type.Optional(Day),
          to: Type.Optional(Type.String({ ...Day, description: 'the last day included, YYYY-MM-DD (UTC)' })),
          by: StringEnum(REPORT_DIMENSIONS, { default: 'council' }),
          format: Type.Optional(StringEnum(['json', 'csv'] as const))
        }),
        response: {
          200: {
            content: {
              'application/json': { schema: Type.Object({ from: Type.String(), to: Type.String(), by: Type.String(), rows: Type.Array(Row), total: Row }) },
              'text/csv': { schema: Type.String({ description: 'one line per row, with a header; the total last' }) }
            }
          },
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody
        }
      }
    },
    async (req, reply) => {
      const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate())
      const to = req.query.to ? Date.parse(`${req.query.to}T00:00:00Z`) + DAY_MS : today + DAY_MS
      const from = req.query.from ? Date.parse(`${req.query.from}T00:00:00Z`) : to - 30 * DAY_MS
      if (!Number.isFinite(from) || !Number.isFinite(to)) throw new AppError('validation_failed', { field: 'from', message: 'Give dates as YYYY-MM-DD' })
      if (from >= to) throw new AppError('validation_failed', { field: 'from', message: 'from must be on or before to' })
      if (to - from > 366 * DAY_MS) throw new AppError('validation_failed', { field: 'to', message: 'A report covers 366 days at most' })
      // counts and times only, nothing of any resident's: no read is recorded
      const report = await caseReport(app.db, req.agent!.partnershipId, new Date(from), new Date(to), req.query.by)
      const csv = req.query.format === 'csv' || (!req.query.format && /\btext\/csv\b/.test(req.headers.accept ?? ''))
      if (!csv) return report
      const body = stringify([...report.rows, report.total].map((r) => REPORT_COLUMNS.map((c) => r[c])), { header: true, columns: [...REPORT_COLUMNS] })
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="switchboard-report-${req.query.by}-${report.from.slice(0, 10)}-${new Date(to - DAY_MS).toISOString().slice(0, 10)}.csv"`)
        .send(body)
    }
  )
}
