import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, DEMO_OPERATOR_KEY, loadConfig } from '../../src/config.js'
import { dropDatabase } from '../helpers/context.js'
import { runSwitchboard } from '../helpers/processes.js'

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
    const config = loadConfig({}, { NODE_ENV: 'production', OPERATOR_API_KEY: 'a-long-enough-production-key' })
    expect(config.OPERATOR_API_KEY).toBe('a-long-enough-production-key')
  })
})

describe('starting with a configuration that cannot work', () => {
  const throwaway = `sb_test_${randomBytes(5).toString('hex')}`
  afterAll(async () => {
    await dropDatabase(`postgres://postgres@127.0.0.1:5432/${throwaway}`)
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
