import { Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { createTwilioSmsSender } from '../src/channels/twilio/sms-client.js'
import { createMailTransport } from '../src/delivery/email.js'
import type { Infra } from '../src/infra.js'
import { queueName, type SendJob } from '../src/jobs/queues.js'
import { sendMessage } from '../src/messaging/send-message.js'

/** message:send — every message to a resident, whatever its channel (src/messaging). */
export function createSendWorker(infra: Infra, connection: Redis): Worker<SendJob> {
  const log = infra.log.child({ worker: 'message:send' })
  const deps = {
    db: infra.db,
    sms: createTwilioSmsSender(infra.config),
    smsStatusCallback: `${infra.config.PUBLIC_BASE_URL}/channels/twilio/sms/status`,
    mail: createMailTransport(infra.config.SMTP_URL, { pool: true }),
    emailDomain: infra.config.EMAIL_DOMAIN,
    log
  }
  const worker = new Worker<SendJob>(
    queueName('message:send'),
    (job) => sendMessage(deps, job.data, job.attemptsMade + 1 >= (job.opts.attempts ?? 1)),
    { connection: connection as unknown as ConnectionOptions, prefix: infra.config.QUEUE_PREFIX, concurrency: infra.config.SEND_CONCURRENCY }
  )
  // the pooled SMTP connections go when the worker does
  worker.on('closed', () => deps.mail.close())
  return worker
}
