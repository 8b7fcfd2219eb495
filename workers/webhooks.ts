import { Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { deliverySettings } from '../src/delivery/deliver-case.js'
import type { Infra } from '../src/infra.js'
import { queueName, type WebhookJob } from '../src/jobs/queues.js'
import { sendWebhookEvent } from '../src/webhooks/send-event.js'

/** webhook:send — case events to the councils' own webhook subscriptions (src/webhooks). */
export function createWebhookWorker(infra: Infra, connection: Redis): Worker<WebhookJob> {
  const log = infra.log.child({ worker: 'webhook:send' })
  // a council's receiver is a back office like a delivery's: the same attempts and timeout
  const settings = deliverySettings(infra.config)
  return new Worker<WebhookJob>(queueName('webhook:send'), (job) => sendWebhookEvent({ db: infra.db, log, settings }, job.data), {
    connection: connection as unknown as ConnectionOptions,
    prefix: infra.config.QUEUE_PREFIX,
    concurrency: infra.config.DELIVERY_CONCURRENCY
  })
}
