import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HtmlSanitiser } from '../../src/channels/email/html-sanitiser.js'
import { OPERATOR_KEY } from '../helpers/context.js'
import { createEmailContext, TRI_BOROUGH_MAILBOX, type EmailContext } from '../helpers/email.js'

// No single mail blocks the event loop (issue 20, point 1). A <div> nested 200,000 deep
// (2.2 MB of HTML) made GET /v1/admin/messages/{id}/html take 26–40 s, and /health waited
// as long: the HTML was sanitised on the API's thread at every view. Now it is sanitised
// once, on a thread of its own and within bounds, and what cannot be is shown as text.

let ctx: EmailContext
let base: string
beforeAll(async () => {
  ctx = await createEmailContext()
  await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`
})
afterAll(async () => {
  await ctx?.close()
})

const operator = { authorization: `Bearer ${OPERATOR_KEY}` }
let n = 0

/** A mail with a text part and this HTML part, sent over SMTP; its message row. */
async function mailWithHtml(html: string, text = 'Pothole outside the library, W2 1AA.') {
  const boundary = 'alt-boundary'
  const messageId = `<html-${++n}-${Date.now()}@example.org>`
  const raw = [
    `From: resident.${n}.${Date.now()}@example.org`,
    `To: ${TRI_BOROUGH_MAILBOX}`,
    'Subject: Pothole',
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    `--${boundary}`,
    'Content-Type: text/html; charset=utf-8',
    '',
    html,
    `--${boundary}--`,
    ''
  ].join('\r\n')
  expect((await ctx.sendRaw(raw)).response).toMatch(/^250 /)
  const [row] = await ctx.query<{ id: number }>(`select m.id from raw_inbound r join messages m on m.raw_inbound_id = r.id where r.payload->>'messageId' = $1`, [messageId])
  return row!.id
}

const stored = async (id: number) => (await ctx.query<{ html: string | null; html_state: string | null }>('select html, html_state from messages where id = $1', [id]))[0]!

/** GET the HTML view over HTTP while /health is asked again and again; both timed. */
async function viewWhileProbingHealth(id: number) {
  const health: number[] = []
  let viewing = true
  const probe = (async () => {
    while (viewing) {
      const t = performance.now()
      await fetch(`${base}/health`).then((r) => r.arrayBuffer())
      health.push(performance.now() - t)
    }
  })()
  const t = performance.now()
  const res = await fetch(`${base}/v1/admin/messages/${id}/html`, { headers: operator })
  const body = await res.text()
  const viewMs = performance.now() - t
  viewing = false
  await probe
  return { status: res.status, body, viewMs, health }
}

describe('an ordinary HTML mail', () => {
  it('is sanitised at its first view, and what is kept is the sanitised HTML, served as it is after', async () => {
    const id = await mailWithHtml('<p>Deep <b>pothole</b></p><script>alert(1)</script><img src="https://tracker.example/p.gif">')
    expect((await stored(id)).html_state).toBeNull() // as received: intake does not sanitise
    const first = await ctx.app.inject({ method: 'GET', url: `/v1/admin/messages/${id}/html`, headers: operator })
    expect(first.statusCode).toBe(200)
    expect(first.body).toBe('<p>Deep <b>pothole</b></p>')
    expect(await stored(id)).toEqual({ html: '<p>Deep <b>pothole</b></p>', html_state: 'sanitised' })
    const again = await ctx.app.inject({ method: 'GET', url: `/v1/admin/messages/${id}/html`, headers: operator })
    expect(again.body).toBe(first.body)
  })
})

describe('HTML nested 200,000 deep (2.2 MB)', () => {
  it('is shown as its text part, at once, and /health answers at once meanwhile', async () => {
    const bomb = '<div>'.repeat(200_000) + 'x' + '</div>'.repeat(200_000)
    expect(bomb.length).toBeGreaterThan(2_200_000)
    const id = await mailWithHtml(bomb, 'Fly-tipping <behind> the shops & the bins, W2 1AA.')
    const view = await viewWhileProbingHealth(id)
    expect(view.status).toBe(200)
    expect(view.viewMs).toBeLessThan(2_000) // was 26–40 s
    expect(view.health.length).toBeGreaterThan(0)
    expect(Math.max(...view.health)).toBeLessThan(500)
    expect(view.body).toContain('nested too deeply to be shown safely')
    expect(view.body).toContain('Fly-tipping &#60;behind&#62; the shops &#38; the bins, W2 1AA.')
    expect(view.body).not.toContain('<div>')
    expect((await stored(id)).html_state).toBe('too_deep')
  })
})

describe('HTML over 5 MB', () => {
  it('is shown as its text part', async () => {
    const id = await mailWithHtml('<p>' + 'word '.repeat(1_100_000) + '</p>')
    const res = await ctx.app.inject({ method: 'GET', url: `/v1/admin/messages/${id}/html`, headers: operator })
    expect(res.statusCode).toBe(200)
    expect(res.body).toContain('too large to be shown safely')
    expect((await stored(id)).html_state).toBe('too_big')
  })
})

describe('the HTML thread', () => {
  it('gives up on HTML that takes longer than its deadline, and takes the next mail on a new thread', async () => {
    const sanitiser = new HtmlSanitiser({ deadlineMs: 100, maxWaiting: 4 })
    try {
      // warm: the thread's start does not count against the deadline
      expect(await sanitiser.sanitise('<p>warm</p>')).toEqual({ state: 'sanitised', html: '<p>warm</p>' })
      const slow = '<p>text with <b>some</b> <i>formatting</i></p>'.repeat(100_000) // about 500 ms of work, under the 5 MB limit
      expect(await sanitiser.sanitise(slow)).toEqual({ state: 'timed_out' })
      expect(await sanitiser.sanitise('<p>next</p>')).toEqual({ state: 'sanitised', html: '<p>next</p>' })
    } finally {
      await sanitiser.close()
    }
  })
})
