/** The agent API as the desk calls it: the same routes any client uses (see /docs). */
import { WORK_TRANSITIONS } from '../../agents/work-statuses.js'

export interface QueueCase {
  reference: string
  priority: string
  work_status: string
  channel: string
  council_gss: string | null
  service_code: string | null
  team_id: number | null
  description: string
  sla_due_at: string | null
  created_at: string
}

export interface CaseWhole extends QueueCase {
  status: string
  council_name: string | null
  service_name: string | null
  assigned_agent_id: number | null
  merged_into_reference: string | null
  first_response_due_at: string | null
  first_response_at: string | null
  first_response_breached_at: string | null
  resolution_due_at: string | null
  resolution_breached_at: string | null
  resolution_paused_at: string | null
  resident: { id: number; name: string | null; email: string | null; phone: string | null }
  messages: Array<{ id: number; direction: string; channel: string; subject: string | null; body: string; author: string | null; status: string | null; created_at: string }>
  events: Array<{ id: number; type: string; actor: string; reason: string | null; created_at: string }>
}

export interface Colleague {
  id: number
  display_name: string | null
  role: string
  presence: string
}

export interface Me {
  me: Colleague & { email: string; capacity: number }
  colleagues: Colleague[]
  teams: Array<{ id: number; name: string; council_gss: string | null }>
}

export interface TeamOverview {
  id: number
  name: string
  council_gss: string | null
  queue_depth: number
  oldest_waiting_seconds: number | null
  sla_breached: number
  agents: Array<{ id: number; display_name: string | null; presence: string; open_cases: number; capacity: number }>
}

export interface ReportRow {
  key: string | null
  label: string
  volume: number
  resolved: number
  first_response_median_hours: number | null
  first_response_p90_hours: number | null
  resolution_median_hours: number | null
  resolution_p90_hours: number | null
  sla_met_pct: number | null
  reopen_rate_pct: number | null
  csat_responses: number
  csat_average: number | null
  csat_satisfied_pct: number | null
}

export interface Report {
  from: string
  to: string
  by: string
  rows: ReportRow[]
  total: ReportRow
}

/** A canned reply filled for a case; `missing` names the variables it had no value for. */
export interface CannedFilled {
  id: number
  title: string
  text: string
  missing: string[]
}

/** An answer other than 2xx, with the API's own code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message)
  }
}

const TOKEN_KEY = 'switchboard.desk.token'

/** The token lives for this tab only (sessionStorage): it is short-lived, and a shared PC forgets it with the tab. */
export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY)
  },
  set(token: string) {
    sessionStorage.setItem(TOKEN_KEY, token)
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY)
  }
}

/** Called when the API says the token is no good any more (401): the desk goes back to the login page. */
let onUnauthorised: () => void = () => {}
export const whenUnauthorised = (fn: () => void) => (onUnauthorised = fn)

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {}
  if (session.token) headers.authorization = `Bearer ${session.token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  if (res.status === 204) return null as T
  const answer = (await res.json().catch(() => ({}))) as { code?: string; message?: string }
  if (!res.ok) {
    if (res.status === 401 && path !== '/v1/auth/login') onUnauthorised()
    throw new ApiError(res.status, answer.code ?? String(res.status), answer.message ?? `The server answered ${res.status}`)
  }
  return answer as T
}

export const api = {
  login: (email: string, password: string) => call<{ token: string; expires_in: number }>('POST', '/v1/auth/login', { email, password }),
  me: () => call<Me>('GET', '/v1/agent/me'),
  mine: () => call<{ cases: QueueCase[] }>('GET', '/v1/agent/mine'),
  queue: (team: number | null) => call<{ cases: QueueCase[] }>('GET', `/v1/agent/queue${team ? `?team=${team}` : ''}`),
  next: () => call<QueueCase | null>('POST', '/v1/agent/next'),
  case: (ref: string) => call<CaseWhole>('GET', `/v1/agent/cases/${encodeURIComponent(ref)}`),
  claim: (ref: string) => call<QueueCase>('POST', `/v1/agent/cases/${encodeURIComponent(ref)}/claim`),
  release: (ref: string) => call<null>('POST', `/v1/agent/cases/${encodeURIComponent(ref)}/release`),
  status: (ref: string, work_status: string) => call<{ work_status: string }>('PATCH', `/v1/agent/cases/${encodeURIComponent(ref)}`, { work_status }),
  reply: (ref: string, body: string) => call<unknown>('POST', `/v1/agent/cases/${encodeURIComponent(ref)}/replies`, { body }),
  note: (ref: string, body: string) => call<unknown>('POST', `/v1/agent/cases/${encodeURIComponent(ref)}/notes`, { body }),
  transfer: (ref: string, to: { agent_id: number } | { team_id: number }, reason: string) =>
    call<unknown>('POST', `/v1/agent/cases/${encodeURIComponent(ref)}/transfer`, { ...to, reason }),
  merge: (ref: string, into: string, reason: string) => call<{ into: string }>('POST', `/v1/agent/cases/${encodeURIComponent(ref)}/merge`, { into, reason }),
  canned: (ref: string) => call<{ replies: CannedFilled[] }>('GET', `/v1/agent/cases/${encodeURIComponent(ref)}/canned-replies`),
  report: (from: string, to: string, by: string) => call<Report>('GET', `/v1/supervisor/reports?from=${from}&to=${to}&by=${by}&format=json`),
  /** the same report as CSV text, for a download */
  reportCsv: async (from: string, to: string, by: string) => {
    const res = await fetch(`/v1/supervisor/reports?from=${from}&to=${to}&by=${by}&format=csv`, { headers: { authorization: `Bearer ${session.token}` } })
    if (!res.ok) throw new ApiError(res.status, String(res.status), `The server answered ${res.status}`)
    return res.text()
  },
  overview: () => call<{ at: string; teams: TeamOverview[] }>('GET', '/v1/supervisor/overview')
}

/** The work statuses an agent may move a case to from where it is: the server's own table. */
export const NEXT_STATUSES: Record<string, readonly string[]> = WORK_TRANSITIONS

export const statusLabel = (s: string) => s.replace(/_/g, ' ')
