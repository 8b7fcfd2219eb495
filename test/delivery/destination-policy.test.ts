import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { webhookUrlRefusal, type TargetPolicy } from '../../src/delivery/destination-policy.js'
import { AddressPolicy } from '../../src/lib/public-address.js'

// the defaults: loopback is allowed outside production (local receivers, the demo, tests), nothing in production
const outside: TargetPolicy = { production: false, addresses: new AddressPolicy('127.0.0.0/8,::1/128') }
const production: TargetPolicy = { production: true, addresses: new AddressPolicy('none') }

describe('which webhook URLs may carry a case', () => {
  it.each([
    // url, allowed outside production, allowed in production
    ['https://backoffice.council.example/hooks', true, true],
    ['HTTPS://Backoffice.Council.Example/hooks', true, true],
    ['https://93.184.215.14/hooks', true, true],
    ['https://[2a00:1450:4009:81f::200e]/hooks', true, true],
    ['https://127.0.0.1:8443/hooks', true, false],
    ['http://127.0.0.1:9000/hooks', true, false],
    ['http://127.255.1.2/hooks', true, false],
    ['http://127.1/hooks', true, false], // the URL parser reads this as 127.0.0.1
    ['http://localhost:9000/hooks', true, false],
    ['http://LOCALHOST/hooks', true, false],
    ['http://[::1]:9000/hooks', true, false],
    ['http://backoffice.council.example/hooks', false, false],
    ['http://example.invalid/hooks', false, false],
    ['http://10.0.0.5/hooks', false, false],
    ['http://128.0.0.1/hooks', false, false],
    ['http://localhost.evil.example/hooks', false, false],
    ['http://127.0.0.1.evil.example/hooks', false, false],
    ['http://[::2]/hooks', false, false],
    ['ftp://127.0.0.1/hooks', false, false],
    ['file:///etc/passwd', false, false],
    ['not a url', false, false],
    ['', false, false]
  ])('%s: outside production %s, in production %s', (url, allowedOutside, allowedInProduction) => {
    expect(webhookUrlRefusal(url, outside) === null).toBe(allowedOutside)
    expect(webhookUrlRefusal(url, production) === null).toBe(allowedInProduction)
  })

  // the targets the security review reached from a council key (issue 20)
  it.each([
    'https://127.0.0.1:6379/',
    'https://10.0.0.1/',
    'https://169.254.169.254/latest/meta-data/',
    'https://[::1]:5432/',
    'https://[::ffff:127.0.0.1]/',
    'https://2130706433/',
    'https://0x7f.1/',
    'https://0.0.0.0/',
    'https://localhost/',
    'https://api.localhost./',
    'https://[fd00::1]/',
    'https://[fe80::1]/',
    'https://100.64.0.1/',
    'https://224.0.0.1/',
    'https://255.255.255.255/',
    'https://[::]/',
    'https://[64:ff9b::a00:1]/', // NAT64 of 10.0.0.1
    'https://[2002:a00:1::1]/' // 6to4 of 10.0.0.1
  ])('refuses %s in production: the address is not public', (url) => {
    expect(webhookUrlRefusal(url, production)).toBe('webhook_url points at an address that is not public (private, loopback, link-local or reserved)')
  })

  it('reaches a private network the operator allows, and only that one', () => {
    const council: TargetPolicy = { production: true, addresses: new AddressPolicy('10.20.0.0/16, fd00:1::/64') }
    expect(webhookUrlRefusal('https://10.20.3.4/hooks', council)).toBeNull()
    expect(webhookUrlRefusal('https://[fd00:1::5]/hooks', council)).toBeNull()
    expect(webhookUrlRefusal('https://10.21.0.1/hooks', council)).toContain('not public')
    expect(webhookUrlRefusal('https://127.0.0.1/hooks', council)).toContain('not public')
  })

  it('refuses a user name or password in the URL, anywhere', () => {
    for (const url of ['https://user:pass@backoffice.council.example/hooks', 'https://token@backoffice.council.example/hooks', 'http://u:p@127.0.0.1/hooks']) {
      expect(webhookUrlRefusal(url, outside)).toContain('must not carry a user name or password')
      expect(webhookUrlRefusal(url, production)).toContain('must not carry a user name or password')
    }
  })

  it('says what to fix', () => {
    expect(webhookUrlRefusal('http://backoffice.council.example/hooks', outside)).toContain('webhook_url must be https')
    expect(webhookUrlRefusal('http://127.0.0.1/hooks', production)).toContain('webhook_url must be https in production')
  })
})

describe('WEBHOOK_ALLOW_PRIVATE_CIDRS', () => {
  const productionEnv = { NODE_ENV: 'production', OPERATOR_API_KEY: 'o'.repeat(40), AGENT_TOKEN_SECRET: 'a'.repeat(40) }

  it('allows loopback outside production and nothing in production, unless set', () => {
    expect(loadConfig({}, {}).WEBHOOK_ALLOW_PRIVATE_CIDRS).toBe('127.0.0.0/8,::1/128')
    expect(loadConfig(productionEnv, {}).WEBHOOK_ALLOW_PRIVATE_CIDRS).toBe('none')
    expect(loadConfig({}, { WEBHOOK_ALLOW_PRIVATE_CIDRS: 'none' }).WEBHOOK_ALLOW_PRIVATE_CIDRS).toBe('none')
    expect(loadConfig(productionEnv, { WEBHOOK_ALLOW_PRIVATE_CIDRS: '10.20.0.0/16,fd00:1::/64' }).WEBHOOK_ALLOW_PRIVATE_CIDRS).toBe('10.20.0.0/16,fd00:1::/64')
  })

  it.each(['10.0.0.0/33', '10.0.0.0/8,banana', '10.0.0', 'fd00::/129', '10.0.0.0/8/8'])('stops the start on %s, naming the setting', (value) => {
    expect(() => loadConfig({}, { WEBHOOK_ALLOW_PRIVATE_CIDRS: value })).toThrow(ConfigError)
    expect(() => loadConfig({}, { WEBHOOK_ALLOW_PRIVATE_CIDRS: value })).toThrow(/^WEBHOOK_ALLOW_PRIVATE_CIDRS is invalid/)
  })

  it('caps subscriptions at 20 per council unless set', () => {
    expect(loadConfig({}, {}).WEBHOOK_MAX_SUBSCRIPTIONS_PER_COUNCIL).toBe(20)
    expect(() => loadConfig({}, { WEBHOOK_MAX_SUBSCRIPTIONS_PER_COUNCIL: '0' })).toThrow(/^WEBHOOK_MAX_SUBSCRIPTIONS_PER_COUNCIL is invalid/)
  })
})
