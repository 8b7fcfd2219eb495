import type { Queryable } from '../db/pool.js'

/** What a resident sees of their case. */
export interface CaseStatus {
  reference: string
  stage: 'received' | 'in_triage' | 'routed' | 'with_back_office' | 'resolved'
  stage_description: string
  council: { gss: string; name: string } | null
  service: { code: string; name: string } | null
  received_at: string
  updated_at: string
}

const STAGES = {
  received: 'received',
  triage: 'in_triage',
  routed: 'routed',
  with_back_office: 'with_back_office',
  resolved: 'resolved'
} as const

/**
 * The case's status, only for someone who knows both its reference and the email or phone
 * the case was reported with (not any other point of the resident it is linked to: a link
 * may rest on a claim, and a claim grants nothing); null otherwise, so the caller cannot
 * tell which was wrong.
 */
export async function findCaseStatus(db: Queryable, reference: string, contact: { kind: 'email' | 'phone'; value: string }): Promise<CaseStatus | null> {
  const { rows } = await db.query<{
    reference: string
    status: keyof typeof STAGES
    council_gss: string | null
    council_name: string | null
    service_code: string | null
    service_name: string | null
    team: string | null
    destination_id: number | null
    created_at: Date
    updated_at: Date
  }>(
    `select c.reference, c.status, c.council_gss, co.name as council_name, c.service_code, s.name as service_name,
            c.team, c.destination_id, c.created_at, c.updated_at
       from cases c
       left join councils co on co.gss = c.council_gss
       left join services s on s.code = c.service_code
      where c.reference = $1
        and case $2 when 'email' then c.reported_email = $3 when 'phone' then c.reported_phone = $3 else false end`,
    [reference, contact.kind, contact.value]
  )
  const row = rows[0]
  if (!row) return null
  const council = row.council_gss && row.council_name ? { gss: row.council_gss, name: row.council_name } : null
  const stage = STAGES[row.status]
  return {
    reference: row.reference,
    stage,
    stage_description: describeStage(stage, council?.name ?? null, row.team, row.destination_id !== null),
    council,
    service: row.service_code && row.service_name ? { code: row.service_code, name: row.service_name } : null,
    received_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString()
  }
}

/** In words a resident reads; never says a council has a report before it has been handed over. */
function describeStage(stage: CaseStatus['stage'], council: string | null, team: string | null, hasDestination: boolean): string {
  switch (stage) {
    case 'received':
      return 'We have received your report and are finding the right council.'
    case 'in_triage':
      return 'A member of staff is checking which council should handle your report.'
    case 'routed':
      return hasDestination
        ? `We are passing your report to ${council ?? 'the council'}.`
        : `${council ?? 'The council'} is responsible for your report; a member of staff will pass it on.`
    case 'with_back_office':
      return `${council ?? 'The council'}${team ? ` (${team})` : ''} has your report.`
    case 'resolved':
      return 'Your report has been resolved.'
  }
}
