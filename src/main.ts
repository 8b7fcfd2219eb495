import closeWithGrace from 'close-with-grace'
import { startWorkers, type Stoppable } from '../workers/index.js'
import { startWorkersThread } from '../workers/thread-host.js'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { ensureDatabase, migrate } from './db/migrate.js'
import { emailDeps } from './channels/email/email-deps.js'
import { assertEmailUsable } from './channels/email/readiness.js'
import { startSmtpListener, type SmtpListener } from './channels/email/smtp-listener.js'
import { assertTwilioUsable } from './channels/twilio/readiness.js'
import { assertDestinationsUsable } from './delivery/destination-policy.js'
import { createInfra, redactUrl } from './infra.js'
import { createLogger } from './logger.js'
import { loadDemoData } from './seed/demo-data.js'

type Mode = 'all' | 'api' | 'workers' | 'smtp'

/**
 * Starts Switchboard: `all` (API, workers and the SMTP listener in one process, the
 * default; the workers on a thread of their own), `api`, `workers` or `smtp` (the listener alone). Creates the database if missing, migrates, loads demo data, then serves until
 * SIGTERM/SIGINT, when it stops taking work, finishes what it holds and exits.
 */
async function main(mode: Mode): Promise<void> {
  const config = loadConfig()
  const log = createLogger(config)
  try {
    if (await ensureDatabase(config.DATABASE_URL)) log.info('created the database')
  } catch (err) {
    throw new ConfigError(`cannot reach Postgres at DATABASE_URL=${redactUrl(config.DATABASE_URL)} (${(err as Error).message}): start Postgres or fix DATABASE_URL`)
  }
  const infra = await createInfra(config, log)
  const applied = await migrate(infra.db)
  if (applied.length) log.info({ migrations: applied }, 'applied migrations')
  if (config.LOAD_DEMO_DATA) {
    const changed = await loadDemoData(infra.db)
    log.info({ rowsChanged: changed }, 'demo data loaded')
  }
  await infra.catalogue.load()
  // fail closed: never serve with a destination that would be sent to unsafely or not at all
  await assertDestinationsUsable(infra.db, config)
  await assertTwilioUsable(infra.db, config)
  await assertEmailUsable(infra.db, config)

  let app: Awaited<ReturnType<typeof buildApp>> | null = null
  let workers: Stoppable | null = null
  let smtp: SmtpListener | null = null
  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS, logger: false }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down: draining requests and jobs')
    await smtp?.close()
    await app?.close()
    await workers?.close()
    await infra.close()
    log.info('shut down cleanly')
  })

  if (mode === 'workers') workers = await startWorkers(infra)
  if (mode === 'all') {
    // on a thread of their own, so that placing a batch of cases never delays an answer to a resident
    workers = await startWorkersThread({
      queues: infra.queues,
      pressure: config.INTAKE_PRIORITY ? infra.intakePressure : undefined,
      onFailure: (err) => {
        // an API whose contacts nobody routes must not go on looking healthy: stop the
        // process as for any uncaught error (shut down gracefully, exit 1)
        setImmediate(() => {
          throw err
        })
      }
    })
  }
  if (mode === 'all' || mode === 'smtp') smtp = await startSmtpListener(emailDeps(infra), config)
  if (mode === 'all' || mode === 'api') {
    app = await buildApp(infra)
    await app.listen({ host: config.HOST, port: config.PORT })
  }
  log.info({ mode, publicBaseUrl: config.PUBLIC_BASE_URL, smtpPort: smtp?.port ?? null }, 'switchboard is running')
}

const mode = (process.argv[2] ?? 'all') as Mode
if (!['all', 'api', 'workers', 'smtp'].includes(mode)) {
  console.error(`unknown mode "${mode}": use all, api, workers or smtp`)
  process.exit(2)
}
main(mode).catch((err: unknown) => {
  // one clear line for configuration problems; a stack for anything unexpected
  if (err instanceof ConfigError) console.error(`switchboard: ${err.message}`)
  else console.error('switchboard: failed to start:', err)
  process.exit(1)
})
