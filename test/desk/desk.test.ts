import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import axe from 'axe-core'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgent } from '../../src/agents/accounts.js'
import { createCanned } from '../../src/agents/canned-replies.js'
import { DESK_DIR } from '../../src/routes/desk.js'
import { waitFor } from '../helpers/context.js'
import { postTwilio, smsParams } from '../helpers/twilio.js'
import { createTwilioContext } from '../helpers/twilio-api.js'

// The agents' desk in a real browser (Debian's Chromium, driven by Playwright) against the
// real app: a signed Twilio text arrives and shows without a reload, the agent claims it,
// replies from a canned reply (the Twilio stand-in receives the text) and resolves it; a colleague on the same
// case is shown; the supervisor's report counts it; axe finds no serious or critical accessibility failure on any screen.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TRI_BOROUGH_NUMBER = '+447700900100'

let twilio: Awaited<ReturnType<typeof createTwilioContext>>
let browser: Browser
let base: string
const agents: Record<'sam' | 'alex', { email: string; password: string; id: number }> = {} as never

beforeAll(async () => {
  if (!existsSync(join(DESK_DIR, 'index.html'))) throw new Error(`the desk is not built in ${DESK_DIR}: npm test builds it (npm run build:desk)`)
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`)
  twilio = await createTwilioContext()
  for (const [key, name, role] of [
    ['sam', 'Sam Patel', 'supervisor'],
    ['alex', 'Alex Morgan', 'agent']
  ] as const) {
    const email = `${key}.${Date.now()}@tri-borough.example.org`
    const made = await createAgent(twilio.ctx.infra.db, { partnership: 'tri-borough', email, role, displayName: name })
    agents[key] = { email, ...made }
  }
  await createCanned(twilio.ctx.infra.db, 'tri-borough', { title: 'Crew booked', body: 'Thank you. A crew will clear it today. Your reference is {{case.reference}}.', team_id: null }, 'test')
  await twilio.ctx.app.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(twilio.ctx.app.server.address() as AddressInfo).port}`
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // no sandbox as root in CI; nothing that reaches beyond this machine
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await twilio?.close()
})

async function logIn(who: 'sam' | 'alex'): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage()
  await page.goto(`${base}/desk/`)
  await page.getByLabel('Email').fill(agents[who].email)
  await page.getByLabel('Password').fill(agents[who].password)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByText('Live', { exact: true }).waitFor()
  return page
}

/** axe-core's WCAG 2.x A and AA rules, run in the page: the serious and critical failures. */
async function accessibilityFailures(page: Page): Promise<string[]> {
  await page.evaluate(axe.source)
  const result = await page.evaluate(() =>
    (window as unknown as { axe: typeof axe }).axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
  )
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
}

describe('the desk', () => {
  it('refuses a wrong password with a message, and the login page passes axe', async () => {
    const page = await (await browser.newContext()).newPage()
    await page.goto(`${base}/desk`)
    expect(await accessibilityFailures(page)).toEqual([])
    await page.getByLabel('Email').fill(agents.sam.email)
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Log in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('The email address or password is not right')
    await page.context().close()
  })

  it('shows a new text live, claims it, replies by SMS, warns of a colleague on the case, and resolves it', async () => {
    const sam = await logIn('sam')
    expect(await accessibilityFailures(sam)).toEqual([])

    // a resident texts the tri-borough number: the case appears in the queue with no reload
    const resident = '+447911550123'
    const sms = await postTwilio(twilio.ctx, '/channels/twilio/sms', smsParams({ From: resident, To: TRI_BOROUGH_NUMBER, Body: 'Fly-tipping behind the shops on Elm Road' }))
    expect(sms.statusCode).toBe(200)
    const reference = /SB-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/.exec(sms.body)![0]
    const item = sam.getByTestId('queue-list').getByRole('button', { name: new RegExp(reference) })
    await item.waitFor({ timeout: 15_000 })
    await expect.poll(() => sam.getByTestId('announcer').textContent()).toContain(`New case ${reference}`)

    // by keyboard: focus the case in the list and open it
    await item.focus()
    await sam.keyboard.press('Enter')
    await sam.getByRole('heading', { name: new RegExp(reference) }).waitFor()
    expect(await sam.getByTestId('messages').textContent()).toContain('Fly-tipping behind the shops on Elm Road')
    await sam.getByRole('button', { name: 'Claim' }).click()
    await sam.getByText(`You hold ${reference}`).waitFor()
    await sam.getByTestId('mine-list').getByRole('button', { name: new RegExp(reference) }).waitFor()

    // a colleague opens the same case by its reference: Sam is told
    const alex = await logIn('alex')
    await alex.getByLabel('Open case by reference').fill(reference.toLowerCase())
    await alex.getByRole('button', { name: 'Open', exact: true }).click()
    await alex.getByRole('heading', { name: new RegExp(reference) }).waitFor()
    await sam.getByText('Alex Morgan is viewing this case').waitFor({ timeout: 10_000 })

    // the reply starts from a canned one, filled for this case, and goes to the resident by
    // SMS through the Twilio stand-in
    await sam.getByLabel('Canned reply').selectOption({ label: 'Crew booked' })
    expect(await sam.getByLabel('Reply to the resident by SMS').inputValue()).toBe(`Thank you. A crew will clear it today. Your reference is ${reference}.`)
    await sam.getByRole('button', { name: 'Send reply' }).click()
    const sent = await waitFor(async () => twilio.api.texts.find((t) => t.params.To === resident), 15_000, 'the reply text')
    expect(sent.params.Body).toBe(`Thank you. A crew will clear it today. Your reference is ${reference}.`)
    await expect.poll(() => sam.getByTestId('messages').textContent(), { timeout: 10_000 }).toContain('A crew will clear it today.')
    // the README's picture of the desk: DESK_SCREENSHOT=docs/desk.png npx vitest run test/desk
    if (process.env.DESK_SCREENSHOT) await sam.screenshot({ path: process.env.DESK_SCREENSHOT, fullPage: false })
    expect(await accessibilityFailures(sam)).toEqual([])

    // resolve: the case leaves Sam's list and its resolution clock stops
    await sam.getByLabel('Move to').selectOption('resolved')
    await sam.getByRole('button', { name: 'Set status' }).click()
    await sam.getByText('Now resolved', { exact: true }).waitFor()
    const [row] = await twilio.ctx.query<{ work_status: string }>('select work_status from cases where reference = $1', [reference])
    expect(row!.work_status).toBe('resolved')
    await sam.getByText('stopped (resolved)').waitFor()
    await expect.poll(() => sam.getByTestId('mine-list').count()).toBe(0)

    // the supervisor's view: teams, then the report of the cases opened lately, the resolved one counted
    await sam.getByRole('button', { name: 'Supervisor' }).click()
    await sam.getByRole('row', { name: /Contact centre/ }).waitFor()
    await sam.getByLabel('By').selectOption('channel')
    await sam.getByRole('button', { name: 'Show report' }).click()
    const smsRow = sam.getByRole('row', { name: /^sms/ })
    await smsRow.waitFor()
    expect(await smsRow.textContent()).toMatch(/^sms11/)
    expect(await accessibilityFailures(sam)).toEqual([])
    await alex.context().close()
    await sam.context().close()
  })
})
