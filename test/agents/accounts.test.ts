import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgent } from '../../src/agents/accounts.js'
import { hashPassword, verifyPassword } from '../../src/agents/passwords.js'
import { agentSessions } from '../../src/agents/sessions.js'
import { agentTokens } from '../../src/agents/tokens.js'
import { validatorCompiler } from '../../src/lib/validator-compiler.js'
import { errorHandler } from '../../src/plugins/error-handler.js'
import { infraDecorators } from '../../src/plugins/infra.js'
import { rateLimits } from '../../src/plugins/rate-limits.js'
import { authRoutes } from '../../src/routes/agents/login.js'
import { loadDemoData } from '../../src/seed/demo-data.js'
import { createTestContext, type TestContext } from '../helpers/context.js'
import { exitOf, killIfAlive, spawnTs } from '../helpers/processes.js'

// a run of the CLI through tsx takes several seconds on a busy 2-core machine
const CLI_TIMEOUT_MS = 45_000
const LOGINS_PER_MIN = 5

let ctx: TestContext
let app: Awaited<ReturnType<typeof loginApp>>
const tokens = () => agentSessions(ctx.infra)

/**
 * The login route on an app of its own, built as src/app.ts builds the real one (validator,
 * error handler, the infra's decorators, rate limits), so this file does not depend on where
 * the route is mounted.
 */
async function loginApp(context: TestContext) {
  const a = Fastify({ loggerInstance: context.infra.log })
  a.setValidatorCompiler(validatorCompiler)
  await a.register(errorHandler)
  await a.register(infraDecorators, { infra: context.infra })
  await a.register(rateLimits)
  await a.register(authRoutes, { tokens: tokens() })
  await a.ready()
  return a
}

beforeAll(async () => {
  ctx = await createTestContext({ RATE_LIMIT_INTAKE_PER_MIN: LOGINS_PER_MIN }, { mail: 'demo' })
  app = await loginApp(ctx)
})
afterAll(async () => {
  await app?.close()
  await ctx?.close()
})

// every test logs in from addresses of its own, so the per-address counts never mix
let lastHost = 0
const newAddress = () => `198.51.100.${++lastHost}`
const tag = randomBytes(4).toString('hex')
let lastAgent = 0
const newEmail = () => `agent.${tag}.${++lastAgent}@council.example`

function login(body: unknown, from = newAddress()) {
  return app.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: from, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
}

function median(times: number[]) {
  const sorted = [...times].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

describe('POST /v1/auth/login', () => {
  it('answers a token that verifies as the agent, for the email in any case', async () => {
    const email = newEmail()
    const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'supervisor' })
    const res = await login({ email: email.toUpperCase(), password: made.password })
    expect(res.statusCode, res.body).toBe(200)
    const body = res.json() as { token: string; expires_in: number }
    expect(body.expires_in).toBe(15 * 60)
    expect(await tokens().authenticate(body.token)).toMatchObject({ agentId: made.id, partnershipId: 'tri-borough', role: 'supervisor' })
    // a token signed with another secret is not accepted as ours
    expect(agentTokens('x'.repeat(40), 15).verify(body.token)).toBeNull()
  })

  it('refuses a wrong password and an unknown email alike: 401, the same message, similar time', async () => {
    const email = newEmail()
    const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'agent' })
    const wrong = await login({ email, password: `${made.password}x` })
    const unknown = await login({ email: newEmail(), password: made.password })
    expect(wrong.statusCode).toBe(401)
    expect(unknown.statusCode).toBe(401)
    expect(wrong.json().message).toBe(unknown.json().message)
    expect(wrong.json().code).toBe('unauthorized')
    expect(wrong.body).not.toContain('token')

    // without the dummy hash an unknown email would answer in a millisecond or two, a
    // wrong password only after scrypt's tens; the bound is loose for a busy machine
    const timeOf = async (body: unknown) => {
      const started = performance.now()
      expect((await login(body)).statusCode).toBe(401)
      return performance.now() - started
    }
    const wrongTimes: number[] = []
    const unknownTimes: number[] = []
    for (let i = 0; i < 3; i++) {
      wrongTimes.push(await timeOf({ email, password: 'not-the-password' }))
      unknownTimes.push(await timeOf({ email: newEmail(), password: 'not-the-password' }))
    }
    expect(median(unknownTimes)).toBeGreaterThan(median(wrongTimes) * 0.3)
  })

  it('refuses an inactive agent with the right password', async () => {
    const email = newEmail()
    const made = await createAgent(ctx.infra.db, { partnership: 'brent-lewisham', email, role: 'agent' })
    expect((await login({ email, password: made.password })).statusCode).toBe(200)
    await ctx.query('update agents set active = false where id = $1', [made.id])
    const res = await login({ email, password: made.password })
    expect(res.statusCode).toBe(401)
    expect(res.json().message).toBe((await login({ email: newEmail(), password: made.password })).json().message)
  })

  it('refuses a body without a password as invalid, before any account is looked up', async () => {
    const res = await login({ email: newEmail() })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'validation_failed', field: 'password' })
  })

  it(`limits one address to ${LOGINS_PER_MIN} attempts a minute; another address still gets in`, async () => {
    const email = newEmail()
    const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'agent' })
    const from = newAddress()
    for (let i = 0; i < LOGINS_PER_MIN; i++) expect((await login({ email, password: 'guess' }, from)).statusCode).toBe(401)
    const over = await login({ email, password: made.password }, from)
    expect(over.statusCode).toBe(429)
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0)
    expect((await login({ email, password: made.password })).statusCode).toBe(200)
  })

  it('writes neither the email nor the password to the log', async () => {
    const email = newEmail()
    const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'agent' })
    const before = ctx.logs.length
    expect((await login({ email, password: made.password })).statusCode).toBe(200)
    expect((await login({ email, password: 'Wrong-password-123' })).statusCode).toBe(401)
    const lines = ctx.logs.slice(before).join('\n')
    expect(lines).toContain('agent login refused')
    for (const secret of [email, made.password, 'Wrong-password-123']) expect(lines).not.toContain(secret)
  })
})

describe('agent accounts', () => {
  it('stores an scrypt hash, never the password', async () => {
    const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email: newEmail(), role: 'agent' })
    expect(made.password).toMatch(/^[A-Za-z0-9_-]{20}$/)
    const [row] = await ctx.query<{ password_hash: string }>('select password_hash from agents where id = $1', [made.id])
    expect(row!.password_hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/)
    expect(row!.password_hash).not.toContain(made.password)
    expect(await verifyPassword(made.password, row!.password_hash)).toBe(true)
    // salted: the same password hashes differently each time
    expect(await hashPassword(made.password)).not.toBe(row!.password_hash)
  })

  it("puts a new agent in the partnership's Contact centre team, or the teams named", async () => {
    const plain = await createAgent(ctx.infra.db, { partnership: 'leicestershire-districts', email: newEmail(), role: 'agent', capacity: 3, displayName: 'Sam Patel' })
    const rows = await ctx.query<{ name: string; partnership_id: string; capacity: number; display_name: string }>(
      `select t.name, t.partnership_id, a.capacity, a.display_name from agents a join agent_teams at on at.agent_id = a.id join teams t on t.id = at.team_id where a.id = $1`,
      [plain.id]
    )
    expect(rows).toEqual([{ name: 'Contact centre', partnership_id: 'leicestershire-districts', capacity: 3, display_name: 'Sam Patel' }])

    const [team] = await ctx.query<{ id: number }>(`insert into teams (partnership_id, name) values ('tri-borough', 'Highways') returning id`)
    const named = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email: newEmail(), role: 'agent', teams: ['Highways'] })
    expect(await ctx.query('select team_id from agent_teams where agent_id = $1', [named.id])).toEqual([{ team_id: team!.id }])
  })

  it('refuses a bad email, an unknown partnership or team and a taken email, storing nothing', async () => {
    const email = newEmail()
    await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'agent' })
    const count = async () => (await ctx.query<{ n: number }>('select count(*)::int as n from agents'))[0]!.n
    const before = await count()
    await expect(createAgent(ctx.infra.db, { partnership: 'tri-borough', email: 'not-an-address', role: 'agent' })).rejects.toMatchObject({ field: 'email' })
    await expect(createAgent(ctx.infra.db, { partnership: 'nowhere', email: newEmail(), role: 'agent' })).rejects.toMatchObject({ field: 'partnership' })
    await expect(createAgent(ctx.infra.db, { partnership: 'tri-borough', email: newEmail(), role: 'agent', teams: ['No such team'] })).rejects.toMatchObject({ field: 'teams' })
    await expect(createAgent(ctx.infra.db, { partnership: 'brent-lewisham', email: email.toUpperCase(), role: 'agent' })).rejects.toMatchObject({ field: 'email' })
    expect(await count()).toBe(before)
  })
})

describe('the demo data', () => {
  it('gives every partnership one Contact centre team for all its councils, and a reload keeps what a supervisor changed', async () => {
    const teams = async () =>
      ctx.query<{ partnership_id: string; council_gss: string | null; auto_assign: boolean }>(
        `select partnership_id, council_gss, auto_assign from teams where name = 'Contact centre' order by partnership_id`
      )
    const partnerships = await ctx.query<{ id: string }>('select id from partnerships order by id')
    expect(await teams()).toEqual(partnerships.map((p) => ({ partnership_id: p.id, council_gss: null, auto_assign: false })))

    await ctx.query(`update teams set auto_assign = true where partnership_id = 'one-connect' and name = 'Contact centre'`)
    expect(await loadDemoData(ctx.infra.db)).toBe(0)
    const after = await teams()
    expect(after).toHaveLength(partnerships.length)
    expect(after.find((t) => t.partnership_id === 'one-connect')?.auto_assign).toBe(true)
  })
})

describe('npm run cli -- agent create', () => {
  async function cli(args: string[]) {
    const child = spawnTs('src/cli/index.ts', ['agent', 'create', ...args], { DATABASE_URL: ctx.config.DATABASE_URL })
    try {
      const { code } = await exitOf(child, CLI_TIMEOUT_MS)
      return { code, stdout: child.stdout(), stderr: child.stderr() }
    } finally {
      await killIfAlive(child)
    }
  }
  const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '')

  it('prints only { id, password } as JSON, and the password logs in', async () => {
    const email = newEmail()
    const run = await cli(['--partnership', 'tri-borough', '--email', email, '--role', 'agent', '--capacity', '4', '--name', 'Alex Morgan'])
    expect(run.code, run.stderr).toBe(0)
    const made = JSON.parse(run.stdout) as Record<string, unknown>
    expect(Object.keys(made).sort()).toEqual(['id', 'password'])
    expect(made.id).toEqual(expect.any(Number))
    expect(made.password).toEqual(expect.any(String))
    const [row] = await ctx.query('select partnership_id, role, capacity, display_name from agents where id = $1', [made.id])
    expect(row).toEqual({ partnership_id: 'tri-borough', role: 'agent', capacity: 4, display_name: 'Alex Morgan' })

    const res = await login({ email, password: made.password })
    expect(res.statusCode, res.body).toBe(200)
    expect(await tokens().authenticate(res.json().token)).toMatchObject({ agentId: made.id, partnershipId: 'tri-borough' })
  }, CLI_TIMEOUT_MS + 15_000)

  it('refuses a bad role (exit 2), an unknown partnership and a taken email (exit 1), saying why on stderr and nothing on stdout', async () => {
    const email = newEmail()
    await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'agent' })
    const [badRole, nowhere, taken] = await Promise.all([
      cli(['--partnership', 'tri-borough', '--email', newEmail(), '--role', 'boss']),
      cli(['--partnership', 'atlantis', '--email', newEmail(), '--role', 'agent']),
      cli(['--partnership', 'tri-borough', '--email', email, '--role', 'agent'])
    ])
    expect(badRole.code, badRole.stderr).toBe(2)
    // a usage error: the project's CLI adds its '(add --help for usage)' hint on a second line
    expect(lines(badRole.stderr)[0]).toMatch(/^switchboard: .*'boss'.*agent, supervisor, admin/)
    expect(nowhere.code, nowhere.stderr).toBe(1)
    expect(lines(nowhere.stderr)).toEqual([expect.stringContaining('atlantis')])
    expect(taken.code, taken.stderr).toBe(1)
    expect(lines(taken.stderr)).toEqual([expect.stringContaining('already exists')])
    for (const run of [badRole, nowhere, taken]) expect(run.stdout).toBe('')
  }, CLI_TIMEOUT_MS + 15_000)
})
