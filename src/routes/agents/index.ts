import type { FastifyInstance } from 'fastify'
import type { AgentSessions } from '../../agents/sessions.js'
import type { LiveHub } from '../../realtime/hub.js'
import { authRoutes } from './login.js'
import { agentStreamRoutes } from './stream.js'
import { supervisorRoutes } from './supervisor.js'
import { agentRoutes } from './workspace.js'

/**
 * Contact-centre agents: the access boundary of people with an agent token. Logging in is
 * open (it is how a token is got); each context after it sets its token hook once: the
 * workspace for any agent, the supervisor's view for supervisors, the live stream on its
 * WebSocket. (Each keeps its own hook, rather than one for the whole group, so that it
 * cannot be registered anywhere without one: the agent tests build each on its own.)
 */
export async function agentsBoundary(app: FastifyInstance, opts: { tokens: AgentSessions; hub: LiveHub }) {
  const { tokens, hub } = opts
  await app.register(authRoutes, { tokens })
  await app.register(agentRoutes, { tokens })
  await app.register(supervisorRoutes, { tokens })
  await app.register(agentStreamRoutes, { tokens, hub })
}
