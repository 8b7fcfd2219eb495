import { Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Transporter } from 'nodemailer'
import type { Infra } from '../src/infra.js'
import { sendErasureNotice } from '../src/data-protection/erasure-notices.js'
import { deliverySettings } from '../src/delivery/deliver-case.js'
import { queueName, type ErasureNoticeJob } from '../src/jobs/queues.js'

/** erasure:notify — case.erased to the council systems that had an erased case (src/data-protection/erasure-notices.ts). */
export function createErasureNoticeWorker(infra: Infra, connection: Redis, mail: Transporter): Worker<ErasureNoticeJob> {
  const log = infra.log.child({ worker: 'erasure:notify' })
  // a council system is a back office: the same attempts and timeout as a delivery
  const settings = deliverySettings(infra.config)
  return new Worker<ErasureNoticeJob>(queueName('erasure:notify'), (job) => sendErasureNotice({ db: infra.db, mail, log, settings }, job.data), {
    connection: connection as unknown as ConnectionOptions,
    prefix: infra.config.QUEUE_PREFIX,
    concurrency: 4
  })
}
