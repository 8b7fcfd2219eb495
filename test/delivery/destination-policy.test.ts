import { describe, expect, it } from 'vitest'
import { webhookUrlRefusal } from '../../src/delivery/destination-policy.js'

describe('which webhook URLs may carry a case', () => {
  it.each([
    // url, allowed outside production, allowed in production
    ['https://backoffice.council.example/hooks', true, true],
    ['https://127.0.0.1:8443/hooks', true, true],
    ['HTTPS://Backoffice.Council.Example/hooks', true, true],
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
  ])('%s: outside production %s, in production %s', (url, outside, inProduction) => {
    expect(webhookUrlRefusal(url, { production: false }) === null).toBe(outside)
    expect(webhookUrlRefusal(url, { production: true }) === null).toBe(inProduction)
  })

  it('says what to fix', () => {
    expect(webhookUrlRefusal('http://backoffice.council.example/hooks', { production: false })).toContain('webhook_url must be https')
    expect(webhookUrlRefusal('http://127.0.0.1/hooks', { production: true })).toContain('webhook_url must be https in production')
  })
})
