import { Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Transporter } from 'nodemailer'
import { deliverCase } from '../src/delivery/deliver-case.js'
import type { Infra } from '../src/infra.js'
import { queueName, type DeliverJob } from '../src/jobs/queues.js'

/** case:deliver — hands routed cases to council systems (src/delivery). */
export function createDeliverWorker(infra: Infra, connection: Redis, mail: Transporter): Worker<DeliverJob> {
  const log = infra.log.child({ worker: 'case:deliver' })
  const settings = { maxAttempts: infra.config.DELIVERY_ATTEMPTS, timeoutMs: infra.config.DELIVERY_TIMEOUT_MS, mailFrom: infra.config.MAIL_FROM, production: infra.config.NODE_ENV === 'production' }
  return new Worker<DeliverJob>(queueName('case:deliver'), (job) => deliverCase({ db: infra.db, mail, log, settings }, job.data), {
    connection: connection as unknown as ConnectionOptions,
    prefix: infra.config.QUEUE_PREFIX,
    concurrency: infra.config.DELIVERY_CONCURRENCY
  })
}
