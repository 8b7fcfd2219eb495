/** The rows the subject access export reads, one interface per table (src/data-protection/export.ts). */

// Rows as pg gives them: bigint ids as numbers (src/db/pool.ts), timestamps as Dates.
export interface CaseRow {
  id: number
  reference: string
  channel: string
  status: string
  work_status: string
  priority: string
  council_gss: string | null
  council_name: string | null
  service_code: string | null
  service_name: string | null
  team: string | null
  reported_name: string | null
  reported_email: string | null
  reported_phone: string | null
  contacted_address: string | null
  uprn: string | null
  usrn: string | null
  external_report: Record<string, unknown> | null
  description: string
  postcode: string | null
  lat: number | null
  lng: number | null
  status_notes: string | null
  council_reference: string | null
  back_office_status: string | null
  created_at: Date
  updated_at: Date
  routed_at: Date | null
  legal_hold_reason: string | null
  legal_hold_at: Date | null
  legal_hold_by: string | null
  redacted_at: Date | null
  redaction: 'erasure' | 'retention' | null
}
export interface ResidentRow {
  id: number
  display_name: string | null
  created_at: Date
  merged_into: number | null
  erased_at: Date | null
}
export interface PointRow {
  kind: 'email' | 'phone'
  value: string
  resident_id: number
  verified: boolean
  verified_at: Date | null
  verified_by: string | null
  created_at: Date
  last_seen_at: Date
  failing_since: Date | null
  failing_detail: string | null
}
export interface MergeRow {
  from_resident: number
  into_resident: number
  actor: string
  reason: string
  created_at: Date
}
export interface OptOutRow {
  phone: string
  opted_out: boolean
  keyword: string
  changed_at: Date
}
export interface MessageRow {
  id: number
  case_id: number
  direction: 'inbound' | 'outbound'
  channel: string
  kind: string | null
  body: string
  sender: string | null
  recipient: string | null
  subject: string | null
  status: string | null
  status_changed_at: Date | null
  author: string | null
  created_at: Date
  redacted_at: Date | null
}
export interface MediaRow {
  message_id: number
  position: number
  filename: string | null
  content_type: string
  size_bytes: number | null
  state: string
  sha256: string | null
  inline: boolean
}
export interface RecordingRow {
  message_id: number
  case_id: number
  recording_sid: string
  duration_secs: number | null
  transcription_status: string | null
  transcription_text: string | null
  created_at: Date
  redacted_at: Date | null
}
export interface EventRow {
  id: number
  case_id: number
  type: string
  actor: string
  reason: string
  data: Record<string, unknown>
  created_at: Date
}
export interface UpdateRow {
  case_id: number
  status: string
  description: string
  for_resident: boolean
  source: string
  external_status_code: string | null
  updated_at: Date
  created_at: Date
}
export interface DeliveryRow {
  id: string
  case_id: number
  council_gss: string
  council_name: string | null
  team: string
  kind: 'webhook' | 'email'
  state: string
  attempts: number
  created_at: Date
  delivered_at: Date | null
}
export interface HookRow {
  id: string
  case_id: number
  council_gss: string
  type: string
  state: string
  created_at: Date
  delivered_at: Date | null
}
export interface NoticeRow {
  id: string
  case_id: number
  council_gss: string
  council_name: string | null
  team: string
  kind: 'webhook' | 'email'
  state: string
  created_at: Date
  delivered_at: Date | null
}
export interface ReadRow {
  id: number
  case_id: number
  at: Date
  actor_kind: 'agent' | 'council_key' | 'operator'
  actor: string
  route: string
}
export interface ErasureRow {
  id: number
  requested_by: string
  reason: string
  cases_erased: number
  held: unknown[]
  created_at: Date
}
