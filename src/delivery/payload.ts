import { describeExternalReport, externalReportView } from './external-report.js'

/** The delivery joined with its case, as the delivery worker reads it. */
export interface DeliveryRow {
  id: number
  public_id: string
  state: 'pending' | 'retrying' | 'delivered' | 'dead'
  attempts: number
  kind: 'webhook' | 'email'
  webhook_url: string | null
  webhook_secret: string | null
  team_email: string | null
  team: string
  case_id: number
  reference: string
  status: string
  priority: string
  channel: string
  service_code: string | null
  service_name: string | null
  /** the service's Local Government Service List code, so councils compare like with like */
  service_lgsl: number | null
  council_gss: string | null
  council_name: string | null
  description: string
  postcode: string | null
  lat: number | null
  lng: number | null
  /** the property (UPRN) and street (USRN) the case is about, when the channel gave them */
  uprn: string | null
  usrn: string | null
  /** what a reporting client (FixMyStreet) told of its report, as stored */
  external_report: unknown
  created_at: Date
  sla_due_at: Date | null
  display_name: string | null
  email: string | null
  phone: string | null
}

/**
 * The JSON a council's system receives (docs/case-delivery.md). Versioned by `schema`: a
 * field may be added within a version, never removed or changed. The resident's details
 * are included because the back office needs them to act, and travel only over the signed hook.
 */
export function buildCasePayload(d: DeliveryRow) {
  return {
    schema: 'switchboard.case.v1',
    event: 'case.routed',
    delivery_id: d.public_id,
    case: {
      reference: d.reference,
      priority: d.priority,
      channel: d.channel,
      service: { code: d.service_code, name: d.service_name, lgsl: d.service_lgsl },
      council: { gss: d.council_gss, name: d.council_name },
      team: d.team,
      description: d.description,
      location: { postcode: d.postcode, lat: d.lat, long: d.lng, uprn: d.uprn, usrn: d.usrn },
      external_report: externalReportView(d.external_report),
      created_at: d.created_at.toISOString(),
      sla_due_at: d.sla_due_at?.toISOString() ?? null,
      resident: { name: d.display_name, email: d.email, phone: d.phone }
    }
  }
}

/** A plain-text mail for a team mailbox. Header values never carry resident input. */
export function renderCaseEmail(d: DeliveryRow): { subject: string; text: string } {
  const subject = `[${d.reference}] ${d.service_name ?? d.service_code ?? 'New case'} for ${d.team}`
  const report = externalReportView(d.external_report)
  const lines = [
    `A case has been routed to ${d.team} at ${d.council_name ?? d.council_gss}.`,
    '',
    `Reference:   ${d.reference}`,
    `Service:     ${d.service_name ?? '-'} (${d.service_code ?? '-'})`,
    `LGSL:        ${d.service_lgsl ?? '-'}`,
    `Priority:    ${d.priority}`,
    `Received:    ${d.created_at.toISOString()} by ${d.channel}`,
    `Respond by:  ${d.sla_due_at?.toISOString() ?? '-'}`,
    `Postcode:    ${d.postcode ?? '-'}`,
    `Coordinates: ${d.lat !== null && d.lng !== null ? `${d.lat}, ${d.lng}` : '-'}`,
    `UPRN:        ${d.uprn ?? '-'}`,
    `USRN:        ${d.usrn ?? '-'}`,
    // a client's title or address is someone's text: on one line, so it cannot pass for another field
    ...(report
      ? [
          `Report:      ${oneLine(describeExternalReport(report))}`,
          ...(report.title ? [`Title:       ${oneLine(report.title)}`] : []),
          ...(report.closest_address ? [`Closest address: ${oneLine(report.closest_address)}`] : [])
        ]
      : []),
    '',
    `Resident:    ${d.display_name ?? '-'}`,
    `Email:       ${d.email ?? '-'}`,
    `Phone:       ${d.phone ?? '-'}`,
    '',
    'In their words:',
    d.description || '(no description)'
  ]
  return { subject, text: lines.join('\n') }
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim()
