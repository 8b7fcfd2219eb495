import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgent } from '../../src/agents/accounts.js'
import { createPool } from '../../src/db/pool.js'
import { createTestContext, dropDatabase, type TestContext } from '../helpers/context.js'
import { freePort, runCli } from '../helpers/processes.js'
import { WESTMINSTER } from '../helpers/councils.js'

const TEST_TIMEOUT_MS = 60_000

/** Runs `npm run cli -- ...args` as a user would (from source, through tsx) until it exits. */
const cli = runCli

function linesOf(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '')
}

describe('npm run cli', () => {
  let ctx: TestContext
  beforeAll(async () => {
    ctx = await createTestContext({}, { mail: 'demo' })
  })
  afterAll(async () => {
    await ctx?.close()
  })

  it('channels list prints every inbound address as JSON, and nothing else on stdout', async () => {
    const run = await cli(['channels', 'list'], { DATABASE_URL: ctx.config.DATABASE_URL })
    expect(run.code, run.stderr).toBe(0)
    const listed = JSON.parse(run.stdout) as Array<Record<string, unknown>>

    const rows = await ctx.query<{ channel: string; address: string; partnership_id: string | null; council_gss: string | null }>(
      'select channel, address, partnership_id, council_gss from inbound_addresses'
    )
    expect(rows.length).toBeGreaterThan(0)
    for (const entry of listed) expect(Object.keys(entry).sort()).toEqual(['address', 'channel', 'council', 'partnership'])
    const asRows = listed.map((e) => ({ channel: e.channel, address: e.address, partnership_id: e.partnership, council_gss: e.council }))
    const key = (r: { channel: unknown; address: unknown }) => `${String(r.channel)} ${String(r.address)}`
    expect([...asRows].sort((a, b) => key(a).localeCompare(key(b)))).toEqual([...rows].sort((a, b) => key(a).localeCompare(key(b))))

    // ordered by channel, then address
    const order = listed.map((e) => [String(e.channel), String(e.address)] as const)
    const sorted = [...order].sort(([c1, a1], [c2, a2]) => (c1 === c2 ? (a1 < a2 ? -1 : 1) : c1 < c2 ? -1 : 1))
    expect(order).toEqual(sorted)

    // the tri-borough's shared number, and a number dedicated to one council
    expect(listed).toContainEqual({ channel: 'sms', address: '+447700900100', partnership: 'tri-borough', council: null })
    expect(listed).toContainEqual({ channel: 'sms', address: '+447700900101', partnership: null, council: WESTMINSTER })
  }, TEST_TIMEOUT_MS)

  it('api-key create prints the key alone on stdout; it works, list shows its prefix only, revoke ends it', async () => {
    const settings = { DATABASE_URL: ctx.config.DATABASE_URL }
    const made = await cli(['api-key', 'create', '--council', WESTMINSTER, '--scopes', 'read,write,open311', '--label', 'waste system'], settings)
    expect(made.code, made.stderr).toBe(0)
    const key = made.stdout.trim()
    expect(made.stdout).toBe(`${key}\n`)
    expect(key).toMatch(/^sbk_[A-Za-z0-9_-]{43}$/)
    const asKey = { authorization: `Bearer ${key}` }
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/cases', headers: asKey })).statusCode).toBe(200)

    const listed = await cli(['api-key', 'list'], settings)
    expect(listed.code, listed.stderr).toBe(0)
    const rows = JSON.parse(listed.stdout) as Array<{ id: number; prefix: string; council: string; scopes: string[]; label: string }>
    const row = rows.find((r) => key.startsWith(r.prefix))
    expect(row).toMatchObject({ council: WESTMINSTER, scopes: ['read', 'write', 'open311'], label: 'waste system' })
    expect(listed.stdout).not.toContain(key)

    const revoked = await cli(['api-key', 'revoke', String(row!.id)], settings)
    expect(revoked.code, revoked.stderr).toBe(0)
    expect((await ctx.app.inject({ method: 'GET', url: '/v1/cases', headers: asKey })).statusCode).toBe(401)

    const bad = await cli(['api-key', 'create', '--council', WESTMINSTER, '--scopes', 'read,admin'], settings)
    expect(bad.code).toBe(2)
    expect(bad.stdout).toBe('')
    const nobody = await cli(['api-key', 'create', '--council', 'E99999999', '--scopes', 'read'], settings)
    expect(nobody.code).toBe(1)
    expect(nobody.stderr).toContain('E99999999')
  }, TEST_TIMEOUT_MS * 2)

  it('agent disable ends an agent\'s session and login within AGENT_REVOCATION_S; agent enable lets them log in again', async () => {
    const settings = { DATABASE_URL: ctx.config.DATABASE_URL }
    const email = `cli.agent.${randomBytes(4).toString('hex')}@council.example`
    const made = await createAgent(ctx.infra.db, { partnership: 'tri-borough', email, role: 'agent' })
    const login = () => ctx.app.inject({ method: 'POST', url: '/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email, password: made.password }) })
    const first = await login()
    expect(first.statusCode, first.body).toBe(200)
    const asAgent = { authorization: `Bearer ${first.json().token as string}` }
    const queue = async () => (await ctx.app.inject({ method: 'GET', url: '/v1/agent/queue', headers: asAgent })).statusCode
    expect(await queue()).toBe(200)

    const disabled = await cli(['agent', 'disable', email.toUpperCase()], settings)
    expect(disabled.code, disabled.stderr).toBe(0)
    expect(JSON.parse(disabled.stdout)).toEqual({ id: made.id, active: false })
    await expect.poll(queue, { timeout: ctx.config.AGENT_REVOCATION_S * 1000 + 1_000, interval: 100 }).toBe(401)
    expect((await login()).statusCode).toBe(401)

    const enabled = await cli(['agent', 'enable', String(made.id)], settings)
    expect(enabled.code, enabled.stderr).toBe(0)
    expect(JSON.parse(enabled.stdout)).toEqual({ id: made.id, active: true })
    expect((await login()).statusCode).toBe(200)
    // the session from before the disable stays over
    expect(await queue()).toBe(401)

    const nobody = await cli(['agent', 'disable', 'nobody@council.example'], settings)
    expect(nobody.code).toBe(1)
    expect(nobody.stdout).toBe('')
    expect(nobody.stderr).toContain('nobody@council.example')
  }, TEST_TIMEOUT_MS * 2)

  it('--help exits 0 and names the channels commands', async () => {
    const run = await cli(['--help'], {})
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^\s+channels\b/m)
    const group = await cli(['channels', '--help'], {})
    expect(group.code, group.stderr).toBe(0)
    expect(group.stdout).toMatch(/^\s+list\b/m)
  }, TEST_TIMEOUT_MS)

  it('an unknown command exits 2 with a message on stderr and nothing on stdout', async () => {
    // Postgres points nowhere: a usage error must be reported before anything connects
    const run = await cli(['chanels', 'list'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/switchboard' })
    expect(run.code, run.stderr).toBe(2)
    expect(run.stdout).toBe('')
    expect(linesOf(run.stderr)[0]).toMatch(/^switchboard: unknown command 'chanels'/)
    expect(run.stderr).not.toContain('DATABASE_URL')
  }, TEST_TIMEOUT_MS)

  it('exits 1 with one line on stderr naming DATABASE_URL when no Postgres listens there', async () => {
    const url = `postgres://postgres@127.0.0.1:${await freePort()}/switchboard`
    const run = await cli(['channels', 'list'], { DATABASE_URL: url })
    expect(run.code, run.stderr).toBe(1)
    expect(run.stdout).toBe('')
    const lines = linesOf(run.stderr)
    expect(lines, run.stderr).toHaveLength(1)
    expect(lines[0]!.startsWith('switchboard: ')).toBe(true)
    expect(lines[0]).toContain('DATABASE_URL')
    expect(lines[0]).toContain(new URL(url).host)
  }, TEST_TIMEOUT_MS)
})

describe('npm run cli on a fresh machine', () => {
  const url = `postgres://postgres@127.0.0.1:5432/sb_test_${randomBytes(5).toString('hex')}`
  afterAll(async () => {
    await dropDatabase(url)
  })

  it('creates and migrates the database, and loads no demo data', async () => {
    const run = await cli(['channels', 'list'], { DATABASE_URL: url })
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual([])
    // LOAD_DEMO_DATA is on by default outside production, yet the CLI must not load it
    const db = createPool({ DATABASE_URL: url, DATABASE_POOL_SIZE: 1 })
    try {
      const { rows } = await db.query<{ migrations: number; councils: number }>(
        'select (select count(*)::int from schema_migrations) as migrations, (select count(*)::int from councils) as councils'
      )
      expect(rows[0]!.migrations).toBeGreaterThan(0)
      expect(rows[0]!.councils).toBe(0)
    } finally {
      await db.end()
    }
  }, TEST_TIMEOUT_MS)
})

