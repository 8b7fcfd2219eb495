import { parentPort } from 'node:worker_threads'
import { loadConfig } from '../src/config.js'
import { createInfra } from '../src/infra.js'
import { createLogger } from '../src/logger.js'
import { startWorkers } from './index.js'
import type { PressureSample } from '../src/lib/intake-pressure.js'
import type { FromHost, ToHost } from './thread-host.js'

/**
 * The workers of the all-in-one process, on a thread of their own (started by
 * workers/thread-host.ts). The host has already migrated the database and loaded demo data;
 * this thread opens its own Postgres pool and Redis connections from the same environment,
 * starts every worker, says `ready`, and on `close` finishes the jobs it holds and says
 * `closed`. With INTAKE_PRIORITY on, the host posts how busy the API is, for routing to
 * hold new cases back during a burst of contacts.
 */
const port = parentPort
if (!port) throw new Error('workers/thread.ts runs as a worker thread, started by the all-in-one process')

const config = loadConfig()
const log = createLogger(config).child({ thread: 'workers' })
const infra = await createInfra(config, log)
await infra.catalogue.load()

// the API's latest figures, posted by the host every interval
let latest: PressureSample = { mean: 0, busy: 0 }
const workers = await startWorkers(infra, { giveWay: config.INTAKE_PRIORITY, pressure: { sample: () => latest } })

const send = (msg: ToHost) => port.postMessage(msg)
port.on('message', (msg: FromHost) => {
  if (msg.type === 'pressure') latest = msg.sample
  if (msg.type === 'route') workers.route(msg.rows)
  if (msg.type === 'close') {
    void (async () => {
      await workers.close()
      await infra.close()
      send({ type: 'closed' })
      port.close()
    })()
  }
})
send({ type: 'ready' })
