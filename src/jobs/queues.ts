import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq'
import type { Redis } from 'ioredis'

/** The queues, by the names the rest of the code (and the outbox) uses. */
export const TOPICS = ['case:route', 'case:deliver', 'message:send', 'media:fetch', 'webhook:send', 'erasure:notify'] as const
export type Topic = (typeof TOPICS)[number]

/** Job payloads: ids only, never personal data or secrets. Versioned so old jobs stay readable. */
export interface RouteJob {
  v: 1
  outboxId: number
  caseId: number
}
export interface DeliverJob {
  v: 1
  outboxId: number
  deliveryId: number
}
/** One message to a resident (SMS now; email joins the same queue), by its messages row. */
export interface SendJob {
  v: 1
  outboxId: number
  messageId: number
}
/** One medium of an inbound MMS to fetch and keep, by its message_media row. */
export interface MediaJob {
  v: 1
  outboxId: number
  mediaId: number
}
/** One event to one council webhook subscription, by its webhook_events row. */
export interface WebhookJob {
  v: 1
  outboxId: number
  webhookEventId: number
}
/** One notice that a case was erased, to one council system that had it, by its erasure_notices row. */
export interface ErasureNoticeJob {
  v: 1
  outboxId: number
  noticeId: number
}
export type JobFor<T extends Topic> = T extends 'case:route'
  ? RouteJob
  : T extends 'case:deliver'
    ? DeliverJob
    : T extends 'message:send'
      ? SendJob
      : T extends 'webhook:send'
        ? WebhookJob
        : T extends 'erasure:notify'
          ? ErasureNoticeJob
          : MediaJob

/**
 * BullMQ refuses ':' in queue names (it separates the parts of its Redis keys), so the
 * topic 'case:route' lives in the BullMQ queue 'case-route'.
 */
export function queueName(topic: Topic): string {
  return topic.replace(':', '-')
}

export interface QueueSettings {
  prefix: string
  deliveryAttempts: number
  deliveryBackoffMs: number
}

function jobOptions(topic: Topic, s: QueueSettings): DefaultJobOptions {
  // Postgres holds the truth (the outbox row stays pending until the job has had its
  // effect), so Redis keeps only a short history; a failed job is removed so the outbox
  // sweeper can enqueue it again under the same id.
  const common: DefaultJobOptions = { removeOnComplete: { count: 1000 }, removeOnFail: true }
  // a council's webhook is a back office too: the same attempts and backoff as deliveries
  if (topic === 'case:deliver' || topic === 'webhook:send' || topic === 'erasure:notify') {
    return { ...common, attempts: s.deliveryAttempts, backoff: { type: 'exponential', delay: s.deliveryBackoffMs } }
  }
  if (topic === 'message:send') return { ...common, attempts: 6, backoff: { type: 'exponential', delay: 2_000 } }
  if (topic === 'media:fetch') return { ...common, attempts: 5, backoff: { type: 'exponential', delay: 5_000 } }
  return { ...common, attempts: 5, backoff: { type: 'exponential', delay: 500 } }
}

export type Queues = { [T in Topic]: Queue<JobFor<T>> } & { close(): Promise<void> }

export function createQueues(connection: Redis, s: QueueSettings): Queues {
  const make = <T extends Topic>(topic: T) =>
    new Queue<JobFor<T>>(queueName(topic), {
      connection: connection as unknown as ConnectionOptions,
      prefix: s.prefix,
      defaultJobOptions: jobOptions(topic, s)
    })
  const route = make('case:route')
  const deliver = make('case:deliver')
  const send = make('message:send')
  const media = make('media:fetch')
  const webhook = make('webhook:send')
  const erasure = make('erasure:notify')
  return {
    'case:route': route,
    'case:deliver': deliver,
    'message:send': send,
    'media:fetch': media,
    'webhook:send': webhook,
    'erasure:notify': erasure,
    async close() {
      await Promise.all([route.close(), deliver.close(), send.close(), media.close(), webhook.close(), erasure.close()])
    }
  }
}

/**
 * The job id for an outbox row: BullMQ collapses adds with an id it already holds, so the
 * relay after commit and the sweeper never run one row's work twice. Built from the row's
 * random job_key (migrations/005), never from its id alone, which a restored or re-created
 * database hands out again.
 */
export function outboxJobId(row: { job_key: string }): string {
  return `outbox-${row.job_key}`
}

// The retention job's queue: scheduled and asked for by operators, not fed by the outbox.

/** The BullMQ queue the retention job runs on (workers/retention.ts). */
export const RETENTION_QUEUE = 'retention'
/** The scheduler that adds a run every RETENTION_EVERY_MINUTES. */
export const RETENTION_SCHEDULER = 'retention-every'
/** A retention job carries nothing: a run applies the schedules as of when it starts. */
export interface RetentionJob {
  v: 1
  requestedBy: 'schedule' | 'operator'
}

export function createRetentionQueue(connection: Redis, prefix: string): Queue<RetentionJob> {
  return new Queue<RetentionJob>(RETENTION_QUEUE, {
    connection: connection as unknown as ConnectionOptions,
    prefix,
    // a failed run is tried again later (the next one carries on where it stopped anyway);
    // Redis keeps a short history, Postgres (retention_runs) the real one
    defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 30_000 }, removeOnComplete: { count: 50 }, removeOnFail: { count: 50 } }
  })
}

/** Asks the workers for a run now (the operator's "run retention"); resolves with the job id. */
export async function queueRetentionRun(queue: Queue<RetentionJob>): Promise<string> {
  const job = await queue.add('apply', { v: 1, requestedBy: 'operator' })
  return job.id!
}
