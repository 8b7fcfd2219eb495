import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createTestContext, type TestContext } from './context.js'
import { ACCOUNT_SID, TWILIO_TOKEN } from './twilio.js'

export interface SentText {
  path: string
  headers: IncomingHttpHeaders
  params: Record<string, string>
  sid: string
}

/** What the stand-in answers the nth message request with: 201 and the message, or an error. */
export type ApiAnswer = { status: 201 } | { status: number; code: number; message: string }

/** A medium the stand-in serves at a media path: its type and bytes, or an endless body. */
export interface StandInMedia {
  contentType: string
  body: Buffer | 'endless'
}

export interface TwilioApiStandIn {
  /** for TWILIO_API_URL */
  url: string
  texts: SentText[]
  answer: (n: number) => ApiAnswer
  /** media by path (/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…) */
  media: Map<string, StandInMedia>
  /** Authorization headers of the media requests, in order */
  mediaRequests: (string | undefined)[]
  close(): Promise<void>
}

/**
 * A local HTTP server that plays the part of Twilio's REST API for messages
 * (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, a form body, Basic auth), answering
 * as Twilio does: 201 with the message resource in JSON, or an error resource. Tests point
 * TWILIO_API_URL at it; nothing calls Twilio.
 */
export async function startTwilioApi(): Promise<TwilioApiStandIn> {
  const texts: SentText[] = []
  let count = 0
  const standIn: TwilioApiStandIn = { url: '', texts, answer: () => ({ status: 201 }), media: new Map(), mediaRequests: [], close: async () => {} }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method === 'GET') {
        standIn.mediaRequests.push(req.headers.authorization)
        const medium = standIn.media.get(req.url ?? '')
        if (!medium) {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 20404, message: 'The requested resource was not found', status: 404 }))
          return
        }
        if (medium.body === 'endless') {
          // a body that never ends: the fetch must stop reading at its size limit
          res.writeHead(200, { 'content-type': medium.contentType })
          const chunk = Buffer.alloc(64 * 1024, 1)
          const pump = () => {
            while (res.write(chunk)) if (res.destroyed) return
            res.once('drain', pump)
          }
          res.on('close', () => res.removeAllListeners('drain'))
          pump()
          return
        }
        res.writeHead(200, { 'content-type': medium.contentType, 'content-length': String(medium.body.length) }).end(medium.body)
        return
      }
      const match = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Messages\.json$/.exec(req.url ?? '')
      if (req.method !== 'POST' || !match) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 20404, message: 'The requested resource was not found', status: 404 }))
        return
      }
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')))
      const answer = standIn.answer(count++)
      if (answer.status !== 201) {
        const error = answer as { status: number; code: number; message: string }
        res.writeHead(error.status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: error.code, message: error.message, more_info: `https://www.twilio.com/docs/errors/${error.code}`, status: error.status }))
        return
      }
      const sid = `SM${randomBytes(16).toString('hex')}`
      texts.push({ path: req.url ?? '', headers: req.headers, params, sid })
      const now = new Date().toUTCString()
      res.writeHead(201, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          sid,
          account_sid: match[1],
          to: params.To,
          from: params.From,
          body: params.Body,
          status: 'queued',
          direction: 'outbound-api',
          num_segments: '1',
          num_media: '0',
          api_version: '2010-04-01',
          date_created: now,
          date_updated: now,
          uri: `/2010-04-01/Accounts/${match[1]}/Messages/${sid}.json`
        })
      )
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  standIn.close = () => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return standIn
}

/**
 * A test file's context with a Twilio account whose REST API is a local stand-in, and the
 * workers running: what sending texts needs. `close` stops both.
 */
export async function createTwilioContext(overrides: Record<string, unknown> = {}): Promise<{ ctx: TestContext; api: TwilioApiStandIn; close(): Promise<void> }> {
  const api = await startTwilioApi()
  const ctx = await createTestContext({ TWILIO_AUTH_TOKEN: TWILIO_TOKEN, TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_API_URL: api.url, ...overrides }, { workers: true })
  return {
    ctx,
    api,
    async close() {
      await ctx.close()
      await api.close()
    }
  }
}
