import { Worker, type ConnectionOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { fetchTwilioMedia } from '../src/channels/twilio/media-fetch.js'
import type { Infra } from '../src/infra.js'
import { markOutboxDone } from '../src/jobs/outbox-relay.js'
import { queueName, type MediaJob } from '../src/jobs/queues.js'
import { pendingMedia, settleMedia } from '../src/messaging/message-media.js'

/**
 * media:fetch — keeps the pictures and files residents send by MMS. Refusals (size, type,
 * not Twilio's) are settled at once; a failing fetch is retried, and settled as failed
 * after the last attempt. The URL stays on the message whatever happens.
 */
export function createMediaWorker(infra: Infra, connection: Redis): Worker<MediaJob> {
  const log = infra.log.child({ worker: 'media:fetch' })
  return new Worker<MediaJob>(
    queueName('media:fetch'),
    async (job) => {
      const media = await pendingMedia(infra.db, job.data.mediaId)
      if (!media) {
        await markOutboxDone(infra.db, job.data.outboxId)
        return 'already_settled'
      }
      try {
        const got = await fetchTwilioMedia(media.url, infra.config, { maxBytes: infra.config.MEDIA_MAX_BYTES, timeoutMs: 20_000 })
        if (got.kind === 'refused') {
          await settleMedia(infra.db, media.id, job.data.outboxId, { state: 'refused', detail: got.detail })
          log.info({ mediaId: media.id, detail: got.detail }, 'MMS medium refused')
          return 'refused'
        }
        await settleMedia(infra.db, media.id, job.data.outboxId, { state: 'stored', contentType: got.contentType, bytes: got.bytes })
        return 'stored'
      } catch (err) {
        if (job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw err
        await settleMedia(infra.db, media.id, job.data.outboxId, { state: 'failed', detail: (err as Error).message })
        return 'failed'
      }
    },
    { connection: connection as unknown as ConnectionOptions, prefix: infra.config.QUEUE_PREFIX, concurrency: 2 }
  )
}
