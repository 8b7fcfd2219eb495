import type { FastifyRequest } from 'fastify'
import Type from 'typebox'
import { findTeam, type Team } from '../../agents/queue.js'
import type { AgentClaims } from '../../agents/tokens.js'
import type { Db } from '../../db/pool.js'
import { AppError } from '../../errors.js'
import { CaseReference } from '../../intake/reference.js'
import { Id, MultiLine, Nullable, Timestamp } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'

/** Schemas and request helpers of the agent workspace's routes (queue.ts, case-work.ts, merges.ts). */

export const QueueCase = Type.Object({
  reference: Type.String(),
  priority: Type.String(),
  work_status: Type.String(),
  channel: Type.String(),
  council_gss: Nullable(Type.String()),
  service_code: Nullable(Type.String()),
  team_id: Nullable(Type.Integer()),
  description: Type.String(),
  uprn: Nullable(Type.String({ description: 'the property it is about (Unique Property Reference Number)' })),
  usrn: Nullable(Type.String({ description: 'the street it is about (Unique Street Reference Number)' })),
  report_url: Nullable(Type.String({ description: "the reporting client's page for the report, e.g. its FixMyStreet report" })),
  sla_due_at: Nullable(Timestamp),
  created_at: Timestamp
})
export const Params = Type.Object({ reference: CaseReference() })
export const TeamQuery = Type.Object({ team: Type.Optional(Id({ description: "a team of your partnership: its council's cases only" })) })
export const Text = Type.Object({ body: MultiLine({ minLength: 1, maxLength: 1600 }) }, { additionalProperties: false })
export const ResidentRef = Type.Union([Id({ description: 'a resident id' }), CaseReference({ description: 'the reference of one of their cases' })])
export const Reason = MultiLine({ minLength: 1, maxLength: 500 })
export const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody }
export const security = [{ agentToken: [] }]
export const tags = ['agent workspace']

/** The agent the workspace's hook admitted. */
export const agentOf = (req: FastifyRequest) => req.agent!
export const refOf = (req: { params: { reference: string } }) => req.params.reference.toUpperCase()

/** A team of the agent's partnership, or none asked for; another partnership's is 404. */
export async function teamOf(db: Db, agent: AgentClaims, id: number | undefined): Promise<Team | null> {
  if (id === undefined) return null
  const team = await findTeam(db, agent.partnershipId, id)
  if (!team) throw new AppError('not_found', { message: 'No team with this id' })
  return team
}
