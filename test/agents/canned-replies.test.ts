import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fill, variablesOf } from '../../src/agents/canned-replies.js'
import { agentSessions } from '../../src/agents/sessions.js'
import { newCaseReference } from '../../src/intake/reference.js'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { HAMMERSMITH, WESTMINSTER } from '../helpers/councils.js'
import { runCli } from '../helpers/processes.js'

// Canned replies: supervisors write them (API or CLI), agents get them filled for the case
// at hand, the resident's and council's names put in as plain values.

describe('filling variables', () => {
  it('puts values in as they are, never reading them again for variables, and names what it had no value for', () => {
    const out = fill('Hello {{resident.first_name}}, ref {{ case.reference }}. {{council.name}}', {
      'resident.first_name': '{{case.reference}}\u0007',
      'case.reference': 'SB-AAAA-BBBB-CCCC',
      'council.name': null
    })
    expect(out).toEqual({ text: 'Hello {{case.reference}}, ref SB-AAAA-BBBB-CCCC. ', missing: ['council.name'] })
  })

  it('refuses an unknown variable, naming it, and a brace pair left open', () => {
    expect(variablesOf('Dear {{resident.first_name}} of {{council.name}}')).toEqual(['resident.first_name', 'council.name'])
    expect(() => variablesOf('Dear {{resident.surname}}')).toThrow(/Unknown variable \{\{resident.surname\}\}/)
    expect(() => variablesOf('Dear {{resident.first_name}')).toThrow(/no matching/)
    expect(() => variablesOf('{{constructor}}')).toThrow(/Unknown variable/)
  })
})

describe('over the API', () => {
  let ctx: TestContext
  beforeAll(async () => {
    ctx = await createTestContext({}, { mail: 'demo' })
  })
  afterAll(async () => {
    await ctx?.close()
  })

  let n = 0
  async function agent(role: 'agent' | 'supervisor', partnership = 'tri-borough', name: string | null = null) {
    const [row] = await ctx.query<{ id: number }>(
      `insert into agents (partnership_id, email, display_name, role, password_hash) values ($1, $2, $3, $4, 'not-a-hash') returning id`,
      [partnership, `canned${++n}.${Date.now()}@example.org`, name, role]
    )
    const token = await agentSessions(ctx.infra).sign({ agentId: row!.id, partnershipId: partnership, role })
    return { id: row!.id, auth: { authorization: `Bearer ${token}` } }
  }
  async function caseOf(council: string, name: string | null, teamId: number | null = null) {
    const reference = newCaseReference()
    await ctx.query(
      `with r as (insert into residents (display_name) values ($2) returning id)
       insert into cases (reference, resident_id, channel, partnership_id, council_gss, service_code, team_id, work_status)
       select $1, r.id, 'sms', 'tri-borough', $3, 'missed_bin', $4, 'open' from r`,
      [reference, name, council, teamId]
    )
    return reference
  }
  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, auth: Record<string, string>, payload?: unknown) =>
    ctx.app.inject({ method, url, headers: auth, ...(payload ? { payload } : {}) })

  it('lets supervisors write them and fills them per case for agents; a team’s only for its own cases', async () => {
    const sup = await agent('supervisor')
    const jo = await agent('agent', 'tri-borough', 'Jo Bloggs')
    const [westminsterTeam] = await ctx.query<{ id: number }>(
      `insert into teams (partnership_id, name, council_gss) values ('tri-borough', 'Westminster desk ${Date.now()}', $1) returning id`,
      [WESTMINSTER]
    )
    const wide = await call('POST', '/v1/supervisor/canned-replies', sup.auth, {
      title: 'Crew booked',
      body: 'Hello {{resident.first_name}}, {{council.name}} will send a crew today. Your reference is {{case.reference}}. {{agent.name}}'
    })
    expect(wide.statusCode, wide.body).toBe(201)
    const teamOnly = await call('POST', '/v1/supervisor/canned-replies', sup.auth, { title: 'Westminster only', body: 'Westminster text', team_id: westminsterTeam!.id })
    expect(teamOnly.statusCode, teamOnly.body).toBe(201)

    const inWestminster = await caseOf(WESTMINSTER, 'Ada Lovelace')
    const got = await call('GET', `/v1/agent/cases/${inWestminster}/canned-replies`, jo.auth)
    expect(got.statusCode, got.body).toBe(200)
    expect(got.json().replies).toEqual([
      {
        id: wide.json().id,
        title: 'Crew booked',
        text: `Hello Ada, Westminster City Council will send a crew today. Your reference is ${inWestminster}. Jo Bloggs`,
        missing: []
      },
      { id: teamOnly.json().id, title: 'Westminster only', text: 'Westminster text', missing: [] }
    ])
    // filled with the resident's name: a read of the case
    expect(await ctx.query('select 1 from access_log where reference = $1', [inWestminster])).toHaveLength(1)

    // a case in Hammersmith is not in the Westminster team's queue; a resident with no name leaves a gap, named
    const elsewhere = await caseOf(HAMMERSMITH, null)
    const other = (await call('GET', `/v1/agent/cases/${elsewhere}/canned-replies`, jo.auth)).json().replies
    expect(other.map((r: { title: string }) => r.title)).toEqual(['Crew booked'])
    expect(other[0]).toMatchObject({ text: expect.stringMatching(/^Hello , London Borough of Hammersmith and Fulham will/), missing: ['resident.first_name'] })
  })

  it('refuses an unknown variable and a plain agent writing one; another partnership sees none of them', async () => {
    const sup = await agent('supervisor')
    const bad = await call('POST', '/v1/supervisor/canned-replies', sup.auth, { title: 'Bad', body: 'Hi {{resident.email}}' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ field: 'body' })
    expect(bad.json().message).toContain('{{resident.email}}')
    const plain = await agent('agent')
    expect((await call('POST', '/v1/supervisor/canned-replies', plain.auth, { title: 'Mine', body: 'text' })).statusCode).toBe(403)

    const made = (await call('POST', '/v1/supervisor/canned-replies', sup.auth, { title: `Private ${Date.now()}`, body: 'tri-borough only' })).json()
    const stranger = await agent('supervisor', 'brent-lewisham')
    const theirs = (await call('GET', '/v1/supervisor/canned-replies', stranger.auth)).json().replies
    expect(theirs.map((r: { id: number }) => r.id)).not.toContain(made.id)
    expect((await call('DELETE', `/v1/supervisor/canned-replies/${made.id}`, stranger.auth)).statusCode).toBe(404)
    expect((await call('PUT', `/v1/supervisor/canned-replies/${made.id}`, sup.auth, { title: 'Renamed', body: 'changed {{case.reference}}' })).json()).toMatchObject({
      title: 'Renamed',
      body: 'changed {{case.reference}}'
    })
    expect((await call('DELETE', `/v1/supervisor/canned-replies/${made.id}`, sup.auth)).statusCode).toBe(204)
    expect((await call('GET', `/v1/agent/cases/${await caseOf(WESTMINSTER, 'X')}/canned-replies`, (await agent('agent', 'brent-lewisham')).auth)).statusCode).toBe(404)
  })

  it('are managed from the CLI too', async () => {
    const run = (args: string[]) => runCli(args, { DATABASE_URL: ctx.config.DATABASE_URL })
    const added = await run(['canned', 'add', '--partnership', 'tri-borough', '--title', 'From the CLI', '--body', 'Thanks {{resident.first_name}}'])
    expect(added.code, added.stderr).toBe(0)
    const id = JSON.parse(added.stdout).id as number
    const refused = await run(['canned', 'add', '--partnership', 'tri-borough', '--title', 'Bad', '--body', 'Hi {{nope}}'])
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toContain('{{nope}}')
    const listed = await run(['canned', 'list', '--partnership', 'tri-borough'])
    expect(JSON.parse(listed.stdout).map((r: { id: number }) => r.id)).toContain(id)
    expect((await run(['canned', 'remove', String(id), '--partnership', 'tri-borough'])).code).toBe(0)
    expect(await ctx.query('select 1 from canned_replies where id = $1', [id])).toEqual([])
  }, 120_000)
})
