import formbody from '@fastify/formbody'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { feedbackSignerFor, recordAnswer } from '../../feedback/csat.js'

const Token = Type.Object({ token: Type.String({ maxLength: 64, description: 'the signed token of the satisfaction email' }) })
const Score = Type.Object({ score: Type.Integer({ minimum: 1, maximum: 5 }) })
// a form posts text: the rating as the digit it is
const ScoreForm = Type.Object({ score: Type.String({ pattern: '^[1-5]$' }) }, { additionalProperties: false })
const LABELS = ['', '1 (poor)', '2', '3', '4', '5 (very good)']

/** A small page in plain HTML: nothing of the resident's, only the score they chose, so nothing to escape but that. */
function page(reply: FastifyReply, status: number, title: string, inner: string) {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
    .header('cache-control', 'no-store')
    .send(
      `<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${title}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}` +
        `button{font:inherit;padding:.5rem 1rem;background:#1d4ed8;color:#fff;border:0;border-radius:4px}</style></head><body>${inner}</body></html>`
    )
}

/**
 * The links of the satisfaction email (src/feedback/csat.ts). Opening one shows a button that
 * sends the rating (POST): mail scanners that open every link in a message must not rate
 * for the resident. The first rating of a case counts; the token is signed for the case.
 */
export async function feedbackRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db, config } = app
  await app.register(formbody)
  const caseOf = async (token: string) => (await feedbackSignerFor(db, config.AGENT_TOKEN_SECRET)).caseOf(token)
  const unknown = (reply: FastifyReply) => page(reply, 404, 'Link not recognised', '<h1>This link is not recognised</h1><p>Please use a link from the email exactly as it came.</p>')

  app.get(
    '/v1/feedback/:token',
    { schema: { tags: ['residents'], summary: 'The page an answer link of the satisfaction email opens: a button to send the rating', params: Token, querystring: Score } },
    async (req, reply) => {
      if ((await caseOf(req.params.token)) === null) return unknown(reply)
      const score = req.query.score
      return page(
        reply,
        200,
        'How did we do?',
        `<h1>How did we do?</h1><form method="post"><input type="hidden" name="score" value="${score}">` +
          `<p>Your rating: ${LABELS[score]} out of 5.</p><button type="submit">Send my rating</button></form>`
      )
    }
  )

  app.post(
    '/v1/feedback/:token',
    { schema: { tags: ['residents'], summary: 'Send the rating of the satisfaction email: the first one for a case counts', params: Token, body: ScoreForm } },
    async (req, reply) => {
      const caseId = await caseOf(req.params.token)
      if (caseId === null) return unknown(reply)
      const done = await recordAnswer(db, caseId, Number(req.body.score), 'email')
      if (done === 'unknown') return unknown(reply)
      req.log.info({ csat: done }, 'feedback received')
      return page(reply, 200, 'Thank you', done === 'recorded' ? '<h1>Thank you</h1><p>Your rating has been recorded.</p>' : '<h1>Thank you</h1><p>We already have your rating for this report.</p>')
    }
  )
}
