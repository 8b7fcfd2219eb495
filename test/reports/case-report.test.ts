import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'csv-parse/sync'
import { agentSessions } from '../../src/agents/sessions.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { HAMMERSMITH, WESTMINSTER } from '../helpers/councils.js'

// The supervisors' report on a real database, with cases whose times are known, so every
// figure is worked out by hand below. Westminster works Monday to Friday, 09:00 to 17:00,
// Europe/London (BST in June: UTC+1).

let ctx: TestContext
let sup: Record<string, string>
let agentA: number
beforeAll(async () => {
  ctx = await createTestContext({}, { mail: 'demo' })
  const [a] = await ctx.query<{ id: number }>(`insert into agents (partnership_id, email, display_name, role, password_hash) values ('tri-borough', 'report.a@example.org', 'Agent A', 'agent', 'x') returning id`)
  agentA = a!.id
  const [s] = await ctx.query<{ id: number }>(`insert into agents (partnership_id, email, role, password_hash) values ('tri-borough', 'report.sup@example.org', 'supervisor', 'x') returning id`)
  sup = { authorization: `Bearer ${await agentSessions(ctx.infra).sign({ agentId: s!.id, partnershipId: 'tri-borough', role: 'supervisor' })}` }

  // A: Monday 8 June 10:00 BST; first reply 12:00 (2 h); resolved Tuesday 10:00 (7 + 1 = 8 h); rated 5
  const a1 = await caseAt({ council: WESTMINSTER, channel: 'sms', created: '2026-06-08T09:00:00Z', firstResponse: '2026-06-08T11:00:00Z', agent: agentA, due: true })
  await statusEvent(a1, 'open', 'resolved', '2026-06-09T09:00:00Z')
  await rated(a1, 5)
  // B: Friday 5 June 16:00 BST; first reply Monday 10:00 (1 + 1 = 2 h); resolved Monday 14:00 (1 + 5 = 6 h);
  // reopened by the resident, its resolution target breached; rated 2
  const b = await caseAt({ council: WESTMINSTER, channel: 'email', created: '2026-06-05T15:00:00Z', firstResponse: '2026-06-08T09:00:00Z', agent: agentA, due: true, breached: true })
  await statusEvent(b, 'open', 'resolved', '2026-06-08T13:00:00Z')
  await ctx.query(`insert into case_events (case_id, type, actor, reason, created_at) values ($1, 'case.reopened', 'resident', 'wrote again', '2026-06-10T09:00:00Z')`, [b])
  await rated(b, 2)
  // C: Hammersmith, open, unanswered, with a target not yet breached
  await caseAt({ council: HAMMERSMITH, channel: 'sms', created: '2026-06-10T09:00:00Z', firstResponse: null, agent: null, due: true })
  // not counted: another partnership's, one opened in May, and one merged into another
  await caseAt({ council: WESTMINSTER, channel: 'sms', created: '2026-06-08T09:00:00Z', firstResponse: null, agent: null, partnership: 'brent-lewisham' })
  await caseAt({ council: WESTMINSTER, channel: 'sms', created: '2026-05-20T09:00:00Z', firstResponse: null, agent: null })
  const merged = await caseAt({ council: WESTMINSTER, channel: 'sms', created: '2026-06-08T09:00:00Z', firstResponse: null, agent: null })
  await ctx.query('update cases set merged_into = $2 where id = $1', [merged, a1])
})
afterAll(async () => {
  await ctx?.close()
})

async function caseAt(o: { council: string; channel: string; created: string; firstResponse: string | null; agent: number | null; due?: boolean; breached?: boolean; partnership?: string }) {
  const [row] = await ctx.query<{ id: number }>(
    `with r as (insert into residents default values returning id)
     insert into cases (reference, resident_id, channel, partnership_id, council_gss, service_code, created_at, first_response_at, assigned_agent_id,
                        resolution_due_at, resolution_breached_at, work_status)
     select $1, r.id, $2, $3, $4, 'missed_bin', $5, $6, $7, case when $8 then $5::timestamptz + interval '7 days' end, case when $9 then now() end, 'open' from r
     returning id`,
    [newCaseReference(), o.channel, o.partnership ?? 'tri-borough', o.council, o.created, o.firstResponse, o.agent, o.due ?? false, o.breached ?? false]
  )
  return row!.id
}
const statusEvent = (caseId: number, from: string, to: string, at: string) =>
  ctx.query(`insert into case_events (case_id, type, actor, reason, data, created_at) values ($1, 'case.work_status_changed', 'agent:1', 'moved', $2, $3)`, [
    caseId,
    JSON.stringify({ from, to }),
    at
  ])
const rated = (caseId: number, score: number) =>
  ctx.query(`insert into csat_surveys (case_id, channel, case_channel, score, answered_at) values ($1, 'sms', 'sms', $2, now())`, [caseId, score])
const report = (query: string, headers = sup) => ctx.app.inject({ method: 'GET', url: `/v1/supervisor/reports?${query}`, headers })

describe('the case report', () => {
  it('gives each council its volume, business-hour times, SLA met, reopen rate and CSAT, and a total', async () => {
    const res = await report('from=2026-06-01&to=2026-06-30&by=council')
    expect(res.statusCode, res.body).toBe(200)
    const body = res.json()
    expect(body).toMatchObject({ from: '2026-06-01T00:00:00.000Z', to: '2026-07-01T00:00:00.000Z', by: 'council' })
    expect(body.rows).toEqual([
      {
        key: WESTMINSTER,
        label: 'Westminster City Council',
        volume: 2,
        resolved: 2,
        first_response_median_hours: 2,
        first_response_p90_hours: 2,
        resolution_median_hours: 7,
        resolution_p90_hours: 7.8,
        sla_met_pct: 50,
        reopen_rate_pct: 50,
        csat_responses: 2,
        csat_average: 3.5,
        csat_satisfied_pct: 50
      },
      {
        key: HAMMERSMITH,
        label: 'London Borough of Hammersmith and Fulham',
        volume: 1,
        resolved: 0,
        first_response_median_hours: null,
        first_response_p90_hours: null,
        resolution_median_hours: null,
        resolution_p90_hours: null,
        sla_met_pct: 100,
        reopen_rate_pct: null,
        csat_responses: 0,
        csat_average: null,
        csat_satisfied_pct: null
      }
    ])
    expect(body.total).toMatchObject({ key: 'all', label: 'All', volume: 3, resolved: 2, sla_met_pct: 66.7, reopen_rate_pct: 50, csat_average: 3.5 })
  })

  it('groups by agent and channel, and answers CSV with the total last', async () => {
    const byAgent = (await report('from=2026-06-01&to=2026-06-30&by=agent')).json()
    expect(byAgent.rows.map((r: { key: string | null; label: string; volume: number }) => [r.key, r.label, r.volume])).toEqual([
      [String(agentA), 'Agent A', 2],
      [null, 'None', 1]
    ])
    const csv = await report('from=2026-06-01&to=2026-06-30&by=channel&format=csv')
    expect(csv.statusCode).toBe(200)
    expect(csv.headers['content-type']).toContain('text/csv')
    expect(csv.headers['content-disposition']).toContain('switchboard-report-channel-2026-06-01-2026-06-30.csv')
    const lines = parse(csv.body, { columns: true }) as Array<Record<string, string>>
    expect(lines.map((l) => [l.key, l.volume])).toEqual([
      ['sms', '2'],
      ['email', '1'],
      ['all', '3']
    ])
    expect(lines[1]).toMatchObject({ resolution_median_hours: '6', csat_average: '2', reopen_rate_pct: '100' })
  })

  it('is for supervisors only, over at most 366 days, from before to', async () => {
    const [a] = await ctx.query<{ id: number }>(`insert into agents (partnership_id, email, role, password_hash) values ('tri-borough', 'report.plain@example.org', 'agent', 'x') returning id`)
    const plain = { authorization: `Bearer ${await agentSessions(ctx.infra).sign({ agentId: a!.id, partnershipId: 'tri-borough', role: 'agent' })}` }
    expect((await report('by=council', plain)).statusCode).toBe(403)
    expect((await report('from=2026-06-30&to=2026-06-01')).statusCode).toBe(400)
    expect((await report('from=2024-01-01&to=2026-06-01')).statusCode).toBe(400)
    expect((await report('by=postcode')).statusCode).toBe(400)
  })
})
