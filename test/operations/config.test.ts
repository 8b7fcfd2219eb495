import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, DEMO_OPERATOR_KEY, loadConfig } from '../../src/config.js'
import { ensureDatabase, migrate } from '../../src/db/migrate.js'
import { createPool } from '../../src/db/pool.js'
import { loadDemoData } from '../../src/seed/demo-data.js'
import { deleteQueueKeys, dropDatabase, waitFor } from '../helpers/context.js'
import { exitOf, freePort, killIfAlive, runSwitchboard, spawnSwitchboard } from '../helpers/processes.js'

const REDIS_URL = 'redis://127.0.0.1:6379'

/** Long enough, and not the demo key: what production accepts. */
const PRODUCTION_KEY = 'prod-operator-key-0123456789abcdef-0123'
const AGENT_SECRET = 'agent-token-secret-0123456789abcdef0123'

/** The ConfigError loadConfig throws for this environment (fails the test if none). */
function configError(env: NodeJS.ProcessEnv, overrides: Record<string, unknown> = {}): ConfigError {
  try {
    loadConfig(overrides, env)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`)
}

describe('loadConfig', () => {
  it('runs the demo out of the box with local defaults', () => {
    const config = loadConfig({}, {})
    expect(config).toMatchObject({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/switchboard',
      REDIS_URL: 'redis://127.0.0.1:6379',
      HOST: '127.0.0.1',
      PORT: 3000,
      NODE_ENV: 'development',
      PUBLIC_BASE_URL: 'http://127.0.0.1:3000',
      OPERATOR_API_KEY: DEMO_OPERATOR_KEY
    })
  })

  it('reads the environment, turning numbers into numbers, and lets overrides win', () => {
    const config = loadConfig({ HOST: '0.0.0.0' }, { PORT: '8080', HOST: '127.0.0.1', DELIVERY_ATTEMPTS: '3', PUBLIC_BASE_URL: 'https://contact.example.gov.uk/', LOG_LEVEL: '' })
    expect(config.PORT).toBe(8080)
    expect(config.DELIVERY_ATTEMPTS).toBe(3)
    expect(config.HOST).toBe('0.0.0.0')
    expect(config.PUBLIC_BASE_URL).toBe('https://contact.example.gov.uk')
    expect(config.LOG_LEVEL).toBe('info') // an empty variable counts as unset
  })

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['REDIS_URL', { REDIS_URL: 'http://127.0.0.1:6379' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }]
  ])('refuses a bad %s, naming it', (name, env) => {
    const err = configError(env)
    expect(err.message.startsWith(`${name} is invalid`), err.message).toBe(true)
  })

  it('requires OPERATOR_API_KEY in production, and takes one when given', () => {
    const err = configError({ NODE_ENV: 'production' })
    expect(err.message).toContain('OPERATOR_API_KEY')
    expect(err.message).toContain('production')
    const config = loadConfig({}, { NODE_ENV: 'production', OPERATOR_API_KEY: PRODUCTION_KEY, AGENT_TOKEN_SECRET: AGENT_SECRET })
    expect(config.OPERATOR_API_KEY).toBe(PRODUCTION_KEY)
  })

  it('requires AGENT_TOKEN_SECRET in production, other than OPERATOR_API_KEY; elsewhere leaves it to the database', () => {
    const err = configError({ NODE_ENV: 'production', OPERATOR_API_KEY: PRODUCTION_KEY })
    expect(err.message.startsWith('AGENT_TOKEN_SECRET'), err.message).toBe(true)
    const same = configError({ NODE_ENV: 'production', OPERATOR_API_KEY: PRODUCTION_KEY, AGENT_TOKEN_SECRET: PRODUCTION_KEY })
    expect(same.message.startsWith('AGENT_TOKEN_SECRET'), same.message).toBe(true)
    expect(same.message).toContain('OPERATOR_API_KEY')
    expect(same.message).not.toContain(PRODUCTION_KEY)
    // nothing derived from the (published) operator key: test/agents/revocation.test.ts checks the database's own secret
    expect(loadConfig({}, {}).AGENT_TOKEN_SECRET).toBeUndefined()
  })

  it.each([
    ['the published demo key', DEMO_OPERATOR_KEY, 'demo key'],
    ['a 20-character key', 'k'.repeat(20), '32 characters'],
    ['a 31-character key', 'k'.repeat(31), '32 characters']
  ])('refuses %s in production, naming OPERATOR_API_KEY', (_what, key, why) => {
    const err = configError({ NODE_ENV: 'production', OPERATOR_API_KEY: key })
    expect(err.message.startsWith('OPERATOR_API_KEY'), err.message).toBe(true)
    expect(err.message).toContain(why)
    expect(err.message).not.toContain(key) // the line may be logged; it never echoes the key
    // outside production the same key is fine: the demo must run out of the box
    expect(loadConfig({}, { OPERATOR_API_KEY: key }).OPERATOR_API_KEY).toBe(key)
  })

  it('loads the demo data by default outside production only', () => {
    expect(loadConfig({}, {}).LOAD_DEMO_DATA).toBe(true)
    expect(loadConfig({}, { NODE_ENV: 'test' }).LOAD_DEMO_DATA).toBe(true)
    expect(loadConfig({}, { NODE_ENV: 'production', OPERATOR_API_KEY: PRODUCTION_KEY, AGENT_TOKEN_SECRET: AGENT_SECRET }).LOAD_DEMO_DATA).toBe(false)
    expect(loadConfig({}, { NODE_ENV: 'production', OPERATOR_API_KEY: PRODUCTION_KEY, AGENT_TOKEN_SECRET: AGENT_SECRET, LOAD_DEMO_DATA: 'true' }).LOAD_DEMO_DATA).toBe(true)
    expect(loadConfig({}, { LOAD_DEMO_DATA: 'false' }).LOAD_DEMO_DATA).toBe(false)
  })
})

/** One line on stderr, starting 'switchboard:', naming the setting; exit code 1. */
function expectOneLineNaming(result: Awaited<ReturnType<typeof runSwitchboard>>, name: string) {
  expect(result.code, result.stderr).toBe(1)
  const lines = result.stderr.split('\n').filter((l) => l.trim() !== '')
  expect(lines, result.stderr).toHaveLength(1)
  expect(lines[0]!.startsWith('switchboard:')).toBe(true)
  expect(lines[0]).toContain(name)
  expect(lines[0]).not.toMatch(/\bat .+:\d+:\d+/) // no stack trace
  return lines[0]!
}

describe('starting with a configuration that cannot work', () => {
  const throwaway = `sb_test_${randomBytes(5).toString('hex')}`
  afterAll(async () => {
    await dropDatabase(`postgres://postgres@127.0.0.1:5432/${throwaway}`)
  })

  it('exits 1 with one line naming PORT when PORT is not a number', async () => {
    // the other settings point nowhere, so if PORT were accepted the failure would name them instead
    const result = await runSwitchboard({ PORT: 'notaport', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/switchboard', REDIS_URL: 'redis://127.0.0.1:1' })
    const line = expectOneLineNaming(result, 'PORT')
    expect(line).not.toContain('DATABASE_URL')
  })

  it('exits 1 with one line naming DATABASE_URL when Postgres is not there', async () => {
    const result = await runSwitchboard({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/switchboard', REDIS_URL: 'redis://127.0.0.1:1', PORT: '0' })
    const line = expectOneLineNaming(result, 'DATABASE_URL')
    expect(line).toContain('127.0.0.1:1')
  })

  it('exits 1 with one line naming REDIS_URL when Redis is not there', async () => {
    const result = await runSwitchboard({
      DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${throwaway}`,
      REDIS_URL: 'redis://127.0.0.1:1',
      PORT: '0',
      LOG_LEVEL: 'silent'
    })
    const line = expectOneLineNaming(result, 'REDIS_URL')
    expect(line).toContain('redis://127.0.0.1:1')
    expect(line).not.toContain('DATABASE_URL')
  })
})

describe('failing closed in production', () => {
  const made: Array<{ url: string; prefix: string }> = []
  /** A database and queue prefix of its own for one start, removed after the file. */
  function fresh() {
    const id = randomBytes(5).toString('hex')
    const place = { url: `postgres://postgres@127.0.0.1:5432/sb_test_${id}`, prefix: `sbtest-${id}` }
    made.push(place)
    return place
  }
  afterAll(async () => {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
    await redis.connect()
    for (const { url, prefix } of made) {
      await deleteQueueKeys({ redis }, prefix)
      await dropDatabase(url)
    }
    await redis.quit()
  })

  // a start through tsx takes 5 to 13 s on a busy 2-core machine
  const SPAWN_TIMEOUT_MS = 60_000
  const EXIT_TIMEOUT_MS = 45_000

  /** What a production deployment sets besides the setting under test. */
  const production = {
    NODE_ENV: 'production',
    OPERATOR_API_KEY: PRODUCTION_KEY,
    AGENT_TOKEN_SECRET: AGENT_SECRET,
    PUBLIC_BASE_URL: 'https://contact.example.gov.uk',
    REDIS_URL,
    PORT: '0',
    LOG_LEVEL: 'silent'
  }

  it.each([
    ['the published demo key', DEMO_OPERATOR_KEY],
    ['a 20-character key', 'k'.repeat(20)]
  ])('exits 1 with one line naming OPERATOR_API_KEY when it is %s', async (_what, key) => {
    // Postgres and Redis point nowhere: had the key been accepted, the line would name them
    const result = await runSwitchboard({ ...production, OPERATOR_API_KEY: key, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/switchboard', REDIS_URL: 'redis://127.0.0.1:1' }, EXIT_TIMEOUT_MS)
    const line = expectOneLineNaming(result, 'OPERATOR_API_KEY')
    expect(line).not.toContain('DATABASE_URL')
    expect(line).not.toContain(key)
  }, SPAWN_TIMEOUT_MS)

  it('exits 1 with one line naming SMTP_URL when there are email destinations and no SMTP_URL', async () => {
    const { url, prefix } = fresh()
    // the demo data's back offices are all team mailboxes
    const result = await runSwitchboard({ ...production, DATABASE_URL: url, QUEUE_PREFIX: prefix, LOAD_DEMO_DATA: 'true' }, EXIT_TIMEOUT_MS)
    const line = expectOneLineNaming(result, 'SMTP_URL')
    expect(line).toContain('email destination')
    expect(line).not.toContain('OPERATOR_API_KEY')
  }, SPAWN_TIMEOUT_MS)

  it('exits 1 with one line naming TWILIO_AUTH_TOKEN when SMS numbers are configured and it is not set', async () => {
    const { url, prefix } = fresh()
    // the demo data gives each partnership SMS and voice numbers
    const result = await runSwitchboard({ ...production, DATABASE_URL: url, QUEUE_PREFIX: prefix, LOAD_DEMO_DATA: 'true', SMTP_URL: 'smtp://127.0.0.1:1' }, EXIT_TIMEOUT_MS)
    const line = expectOneLineNaming(result, 'TWILIO_AUTH_TOKEN')
    expect(line).toContain('SMS or voice number')
  }, SPAWN_TIMEOUT_MS)

  it('exits 1 with one line naming EMAIL_DOMAIN when mailboxes are configured and our mail domain is the placeholder', async () => {
    const { url, prefix } = fresh()
    const result = await runSwitchboard(
      { ...production, DATABASE_URL: url, QUEUE_PREFIX: prefix, LOAD_DEMO_DATA: 'true', SMTP_URL: 'smtp://127.0.0.1:1', TWILIO_AUTH_TOKEN: 'twilio-auth-token-0123456789abcdef' },
      EXIT_TIMEOUT_MS
    )
    const line = expectOneLineNaming(result, 'EMAIL_DOMAIN')
    expect(line).toContain('mailbox')
  }, SPAWN_TIMEOUT_MS)

  it('exits 1 with one line naming the destination when a webhook is plain http, even to this machine', async () => {
    const { url, prefix } = fresh()
    await ensureDatabase(url)
    const db = createPool({ DATABASE_URL: url, DATABASE_POOL_SIZE: 1 })
    let destinationId: number
    try {
      await migrate(db)
      await loadDemoData(db)
      await db.query(`update destinations set active = false where council_gss = 'E09000033' and service_code = 'pothole' and active`)
      const { rows } = await db.query<{ id: number }>(
        `insert into destinations (council_gss, service_code, team, kind, webhook_url, webhook_secret)
         values ('E09000033', 'pothole', 'Highways', 'webhook', 'http://127.0.0.1:9/hooks', 'whsec_0123456789abcdef') returning id`
      )
      destinationId = rows[0]!.id
    } finally {
      await db.end()
    }
    const result = await runSwitchboard({ ...production, DATABASE_URL: url, QUEUE_PREFIX: prefix, SMTP_URL: 'smtp://127.0.0.1:1', LOAD_DEMO_DATA: 'false' }, EXIT_TIMEOUT_MS)
    const line = expectOneLineNaming(result, `destination ${destinationId}`)
    expect(line).toContain('E09000033')
    expect(line).toContain('Highways')
    expect(line).toContain('webhook_url must be https')
    expect(line).not.toContain('127.0.0.1:9') // the URL may carry a token: not printed
  }, SPAWN_TIMEOUT_MS)

  it('starts with a strong key and SMTP_URL set, takes that key and not the demo one, and stops cleanly', async () => {
    const { url, prefix } = fresh()
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const child = spawnSwitchboard({
      ...production,
      DATABASE_URL: url,
      QUEUE_PREFIX: prefix,
      LOAD_DEMO_DATA: 'true',
      SMTP_URL: 'smtp://127.0.0.1:1',
      TWILIO_AUTH_TOKEN: 'twilio-auth-token-0123456789abcdef',
      EMAIL_DOMAIN: 'replies.contact.example.gov.uk',
      HOST: '127.0.0.1',
      PORT: String(port)
    })
    try {
      await waitFor(
        async () => {
          if (!child.alive()) throw new Error(`switchboard exited: ${child.output()}`)
          const res = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(1_000) }).catch(() => null)
          return res?.status === 200
        },
        25_000,
        'switchboard to be ready'
      )
      const admin = (key: string) => fetch(`${base}/v1/admin/deliveries`, { headers: { authorization: `Bearer ${key}` } })
      expect((await admin(PRODUCTION_KEY)).status).toBe(200)
      expect((await admin(DEMO_OPERATOR_KEY)).status).toBe(401)
      child.proc.kill('SIGTERM')
      expect(await exitOf(child), child.output()).toEqual({ code: 0, signal: null })
      expect(child.stderr()).toBe('')
    } finally {
      await killIfAlive(child)
    }
  }, SPAWN_TIMEOUT_MS)
})
