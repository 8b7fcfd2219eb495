import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { findAgentForLogin } from '../../agents/accounts.js'
import { dummyHash, verifyPassword } from '../../agents/passwords.js'
import type { AgentSessions } from '../../agents/sessions.js'
import { AppError } from '../../errors.js'
import { SingleLine } from '../../lib/schema.js'
import { ErrorBody } from '../../plugins/error-handler.js'

const LoginBody = Type.Object(
  {
    email: SingleLine({ minLength: 3, maxLength: 254 }),
    // long enough for any passphrase; bounded so a huge body cannot become scrypt's input
    password: Type.String({ minLength: 1, maxLength: 1024 })
  },
  { additionalProperties: false }
)
const LoginAnswer = Type.Object({
  token: Type.String({ description: 'Send it as `Authorization: Bearer <token>` (or `?token=` on the WebSocket)' }),
  expires_in: Type.Integer({ description: 'seconds until the token expires; log in again then' })
})

// one message for an unknown email, an inactive account and a wrong password alike, so the
// answer does not tell which addresses have accounts
const REFUSED = 'The email address or password is not right'

/**
 * Agents log in with email and password for a short-lived bearer token. Counted per client
 * address with the contact intake (RATE_LIMIT_INTAKE_PER_MIN), before the body is read, so
 * password guessing from one address is slowed as hard as spam; and per account named
 * (RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MIN), so guesses at one account from many addresses stop
 * too. Past either, 429 before any password is checked, for an account that exists or not.
 */
export async function authRoutes(fastify: FastifyInstance, opts: { tokens: AgentSessions }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { db } = app
  const { tokens } = opts
  // JSON only, as for contacts: a text/plain body would otherwise reach validation and fail less helpfully
  app.removeContentTypeParser('text/plain')
  // made now rather than on the first unknown email, whose answer would otherwise be the slow one
  await dummyHash()

  app.post(
    '/v1/auth/login',
    {
      onRequest: app.requestLimits.intake,
      preHandler: app.requestLimits.loginAccount,
      schema: {
        tags: ['agents'],
        summary: 'Log in as an agent',
        description: 'Answers a bearer token for the agent routes, valid for AGENT_TOKEN_TTL_MINUTES. A wrong email or password is 401, with one message for both. Too many attempts from one address, or at one account from any number of addresses (the right password included), are 429 until the minute is over.',
        body: LoginBody,
        response: { 200: LoginAnswer, 400: ErrorBody, 401: ErrorBody, 415: ErrorBody, 429: ErrorBody, 503: ErrorBody }
      }
    },
    async (req) => {
      const agent = await findAgentForLogin(db, req.body.email)
      // with no account, the same scrypt work against a dummy hash: an unknown address takes as long as a wrong password
      const ok = await verifyPassword(req.body.password, agent?.passwordHash ?? (await dummyHash()))
      if (!agent || !ok) {
        // no email here: the log says that a login failed, not whose
        req.log.info({ known: Boolean(agent) }, 'agent login refused')
        throw new AppError('unauthorized', { message: REFUSED })
      }
      req.log.info({ agentId: agent.id }, 'agent logged in')
      const token = await tokens.sign({ agentId: agent.id, partnershipId: agent.partnershipId, role: agent.role, generation: agent.generation })
      return { token, expires_in: tokens.ttlSeconds }
    }
  )
}
