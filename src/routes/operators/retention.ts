import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import {
  countCases,
  listRuns,
  listSchedules,
  RECORD_CLASS_INFO,
  RECORD_CLASSES,
  removeSchedule,
  setSchedule
} from '../../data-protection/retention-schedules.js'
import { AppError } from '../../errors.js'
import { createRetentionQueue, queueRetentionRun } from '../../jobs/queues.js'
import { IntegerBetween, Nullable, SingleLine, StringEnum, Timestamp } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'

const RecordClass = StringEnum(RECORD_CLASSES, { description: 'raw, content, case, delivery, resident or access_log' })
const Gss = SingleLine({ minLength: 9, maxLength: 9, description: "a council's GSS code, e.g. E09000033" })
const KeepDays = IntegerBetween(1, 36_500, { description: 'days a record is kept, counted from its own clock (see the class)' })
const Schedule = Type.Object({
  record_class: RecordClass,
  council_gss: Nullable(Type.String()),
  council_name: Nullable(Type.String()),
  keep_days: Type.Integer(),
  updated_at: Timestamp,
  updated_by: Type.String()
})
const ClassDefault = Type.Object({
  record_class: RecordClass,
  holds: Type.String({ description: 'what the class covers, and what expiry does to it' }),
  counted_from: Type.String({ description: 'the clock its days count from' }),
  per_council: Type.Boolean({ description: 'whether a council may have its own schedule for the class' }),
  keep_days: Nullable(Type.Integer({ description: 'the default, for every council without its own' })),
  updated_at: Nullable(Timestamp),
  updated_by: Nullable(Type.String())
})
const Counts = Type.Object(
  {
    ...Object.fromEntries(RECORD_CLASSES.map((c) => [c, Type.Optional(Type.Integer())])),
    detail: Type.Optional(Type.Record(Type.String(), Type.Integer(), { description: 'rows changed per table' }))
  },
  { description: 'records acted on per class (redacted, erased or deleted)' }
)
const Run = Type.Object({
  id: Type.Integer(),
  started_at: Timestamp,
  finished_at: Nullable(Timestamp),
  as_of: Timestamp,
  counts: Counts
})
const CaseCount = Type.Object({
  council_gss: Nullable(Type.String()),
  service_code: Nullable(Type.String()),
  channel: Type.String(),
  month: Type.String({ description: 'YYYY-MM, Europe/London' }),
  cases: Type.Integer()
})

/** Retention schedules and runs, and the case counts that survive retention (operator API). Registered inside operatorsBoundary, behind the operator key. */
export async function adminRetentionRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, redis, config } = app
  const security = [{ operatorKey: [] }]
  const tags = ['data protection']
  const errors = { 400: ErrorBody, 401: ErrorBody, 503: ErrorBody }
  // the API only adds runs; the workers' retention job (workers/retention.ts) takes them
  const queue = createRetentionQueue(redis, config.QUEUE_PREFIX)
  app.addHook('onClose', async () => {
    await queue.close()
  })

  app.get(
    '/v1/admin/retention/schedules',
    {
      schema: {
        tags,
        security,
        summary: 'How long each class of record is kept: the defaults, and councils that set their own',
        response: { 200: Type.Object({ classes: Type.Array(ClassDefault), councils: Type.Array(Schedule) }), ...errors }
      }
    },
    async () => {
      const rows = await listSchedules(db)
      const classes = RECORD_CLASSES.map((c) => {
        const d = rows.find((r) => r.record_class === c && r.council_gss === null)
        return { record_class: c, ...RECORD_CLASS_INFO[c], keep_days: d?.keep_days ?? null, updated_at: d?.updated_at ?? null, updated_by: d?.updated_by ?? null }
      })
      return { classes, councils: rows.filter((r) => r.council_gss !== null) }
    }
  )

  app.put(
    '/v1/admin/retention/schedules',
    {
      schema: {
        tags,
        security,
        summary: "Set how long a class of record is kept, by default or for one council (the next run applies it)",
        description: 'Without council_gss the default changes, for every council without its own. Residents belong to no council: their class has a default only.',
        body: Type.Object({ record_class: RecordClass, keep_days: KeepDays, council_gss: Type.Optional(Gss) }, { additionalProperties: false }),
        response: { 200: Schedule, 422: ErrorBody, ...errors }
      }
    },
    async (req) => setSchedule(db, { record_class: req.body.record_class, keep_days: req.body.keep_days, council_gss: req.body.council_gss ?? null }, 'operator')
  )

  app.delete(
    '/v1/admin/retention/schedules/:record_class',
    {
      schema: {
        tags,
        security,
        summary: "Remove a council's own schedule for a class, so the default applies to it again",
        description: 'The default itself cannot be removed: change it with PUT.',
        params: Type.Object({ record_class: RecordClass }),
        querystring: Type.Object({ council: Type.Optional(Gss) }),
        response: { 204: Type.Null(), 404: ErrorBody, ...errors }
      }
    },
    async (req, reply) => {
      const council = req.query.council
      if (!council) throw new AppError('validation_failed', { field: 'council', message: 'The default schedule cannot be removed; name the council whose own schedule to remove, or change the default with PUT' })
      if (!(await removeSchedule(db, req.params.record_class, council))) {
        throw new AppError('not_found', { field: 'council', message: `Council ${council} has no schedule of its own for the ${req.params.record_class} class` })
      }
      return reply.code(204).send(null)
    }
  )

  app.post(
    '/v1/admin/retention/run',
    {
      schema: {
        tags,
        security,
        summary: 'Apply the retention schedules now, instead of waiting for the next scheduled run',
        description: 'Queued for the workers; the run appears under GET /v1/admin/retention/runs, with its counts once it has finished.',
        response: { 202: Type.Object({ job_id: Type.String(), status: Type.Literal('queued') }), ...errors }
      }
    },
    async (_req, reply) => reply.code(202).send({ job_id: await queueRetentionRun(queue), status: 'queued' as const })
  )

  app.get(
    '/v1/admin/retention/runs',
    {
      schema: {
        tags,
        security,
        summary: 'Recent retention runs with what each removed, newest first (no finished_at: cut short, or still going)',
        querystring: Type.Object({ limit: Type.Optional(IntegerBetween(1, 500, { default: 50 })) }),
        response: { 200: Type.Array(Run), ...errors }
      }
    },
    async (req) => listRuns(db, req.query.limit ?? 50)
  )

  app.get(
    '/v1/admin/reports/cases',
    {
      schema: {
        tags,
        security,
        summary: 'Cases by council, service, channel and month: the reporting that survives retention and erasure',
        querystring: Type.Object({ council: Type.Optional(Gss) }),
        response: { 200: Type.Array(CaseCount), 422: ErrorBody, ...errors }
      }
    },
    async (req) => {
      const council = req.query.council ?? null
      if (council && !(await db.query('select 1 from councils where gss = $1', [council])).rowCount) {
        throw new AppError('unknown_council', { field: 'council', message: `No council in this deployment has the GSS code ${council}` })
      }
      return countCases(db, council)
    }
  )
}
