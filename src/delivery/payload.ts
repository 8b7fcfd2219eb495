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
  council_gss: string | null
  council_name: string | null
  description: string
  postcode: string | null
  lat: number | null
  lng: number | null
  created_at: Date
  sla_due_at: Date | null
  display_name: string | null
  email: string | null
  phone: string | null
}

/**
 * The JSON a council's system receives. Versioned by `schema`; the resident's details are
 * included because the back office needs them to act, and travel only over the signed hook.
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
      service: { code: d.service_code, name: d.service_name },
      council: { gss: d.council_gss, name: d.council_name },
      team: d.team,
      description: d.description,
      location: { postcode: d.postcode, lat: d.lat, long: d.lng },
      created_at: d.created_at.toISOString(),
      sla_due_at: d.sla_due_at?.toISOString() ?? null,
      resident: { name: d.display_name, email: d.email, phone: d.phone }
    }
  }
}

/** A plain-text mail for a team mailbox. Header values never carry resident input. */
export function renderCaseEmail(d: DeliveryRow): { subject: string; text: string } {
  const subject = `[${d.reference}] ${d.service_name ?? d.service_code ?? 'New case'} for ${d.team}`
  const lines = [
    `A case has been routed to ${d.team} at ${d.council_name ?? d.council_gss}.`,
    '',
    `Reference:   ${d.reference}`,
    `Service:     ${d.service_name ?? '-'} (${d.service_code ?? '-'})`,
    `Priority:    ${d.priority}`,
    `Received:    ${d.created_at.toISOString()} by ${d.channel}`,
    `Respond by:  ${d.sla_due_at?.toISOString() ?? '-'}`,
    `Postcode:    ${d.postcode ?? '-'}`,
    `Coordinates: ${d.lat !== null && d.lng !== null ? `${d.lat}, ${d.lng}` : '-'}`,
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
