import { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import pg from 'pg'
import type { Db } from '../db/pool.js'
import { LIVE_NAME_OF, type LiveName } from '../events/audience.js'
import type { Log } from '../logger.js'

/** An event as agents receive it: what happened to which case, and whose case it is. */
export interface LiveEvent {
  type: string
  event_id: number
  at: string
  partnership_id: string
  case: {
    reference: string
    council_gss: string | null
    status: string
    work_status: string
    priority: string
    assigned_agent_id: number | null
    sla_due_at: string | null
  }
  /** for presence and "who is viewing": the agent it is about */
  agent_id?: number
  detail?: Record<string, unknown>
}

// A case is opened with no partnership, so nobody's to see: it becomes case.created for its
// agents once, when first placed (publishOnce), never at its opening (src/realtime/sql/announce.sql).
/**
 * Case events as agents know them (the catalogue's `live` names, src/events/catalogue.ts);
 * anything else stays in the audit trail only.
 */
export const LIVE_TYPES: Record<string, LiveName> = { ...LIVE_NAME_OF }

export const LIVE_EVENT_TYPES = [...new Set(Object.values(LIVE_TYPES))]

/** The Postgres channel on which a change to an agent's account is announced (announce_agent_change, src/realtime/sql/announce.sql). */
const AGENT_CHANGES = 'switchboard_agent_changes'

/**
 * The fan-out of the agents' live view. Postgres announces every committed case event
 * (announce_case_event, src/realtime/sql/announce.sql); every process listening claims each event in Redis (SET NX) and only the
 * one that wins publishes it, so an event goes out once however many processes listen. Every
 * API process subscribes to the Redis channel and hands each event to its own sockets
 * (`on('event')`). Presence and "who is viewing" go through the same channel. A change to an
 * agent's account (disabled, another role) is emitted as `agent-changed` with the agent's id.
 */
export class LiveHub extends EventEmitter {
  private listener: pg.Client | null = null
  private subscriber: Redis | null = null
  private closed = false
  private readonly channel: string
  /** this process's agent sockets: while there are any, the trigger announces events */
  private sockets = 0
  private keepAlive: NodeJS.Timeout | undefined

  constructor(
    private readonly deps: { db: Db; redis: Redis; databaseUrl: string; prefix: string; log: Log }
  ) {
    super()
    this.setMaxListeners(0)
    this.channel = `${deps.prefix}:live`
  }

  /**
   * Subscribes and listens. Neither waits for Redis or Postgres: the API must start (and say
   * on /ready what is missing) while either is away; both connections retry by themselves.
   */
  async start(): Promise<void> {
    // a connection of its own: a subscribed Redis connection can do nothing else
    this.subscriber = this.deps.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: false })
    this.subscriber.on('error', () => {})
    this.subscriber.on('message', (_channel: string, message: string) => {
      let parsed: LiveEvent | LiveEvent[]
      try {
        parsed = JSON.parse(message) as LiveEvent | LiveEvent[]
      } catch {
        return // not ours
      }
      for (const event of Array.isArray(parsed) ? parsed : [parsed]) this.emit('event', event)
    })
    // queued until connected, and sent again by ioredis after a reconnect
    this.subscriber.subscribe(this.channel).catch(() => {})
    this.listen().catch(() => this.relisten())
  }

  /**
   * An agent's socket opened here. While any is open, live_view.until is kept 30 s ahead
   * (refreshed every 10 s), so Postgres announces case events; with none anywhere, it lapses.
   */
  attach(): void {
    if (this.sockets++ === 0) {
      const refresh = () => void this.deps.db.query(`update live_view set until = greatest(until, now() + interval '30 seconds')`).catch(() => {})
      refresh()
      this.keepAlive = setInterval(refresh, 10_000)
      this.keepAlive.unref()
    }
  }

  detach(): void {
    if (--this.sockets <= 0) {
      this.sockets = 0
      if (this.keepAlive) clearInterval(this.keepAlive)
      this.keepAlive = undefined
    }
  }

  private relisten(): void {
    if (this.closed) return
    setTimeout(() => void this.listen().catch(() => this.relisten()), 1_000).unref()
  }

  /** Presence, viewing and typing: published straight to every process. */
  async announce(event: LiveEvent): Promise<void> {
    await this.deps.redis.publish(this.channel, JSON.stringify(event))
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.keepAlive) clearInterval(this.keepAlive)
    if (this.flushing) clearTimeout(this.flushing)
    const listener = this.listener
    this.listener = null
    await listener?.end().catch(() => {})
    this.subscriber?.disconnect()
    this.removeAllListeners()
  }

  /** A dedicated connection for LISTEN, reconnected with a pause if it drops. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.deps.databaseUrl, application_name: 'switchboard-live' })
    client.on('error', () => {})
    client.on('end', () => {
      if (this.closed || this.listener !== client) return
      this.listener = null
      this.deps.log.warn('live view lost its Postgres listener; reconnecting')
      this.relisten()
    })
    client.on('notification', (n) => {
      const id = Number(n.payload)
      if (!Number.isInteger(id)) return
      if (n.channel === AGENT_CHANGES) this.emit('agent-changed', id)
      else this.queue(id)
    })
    try {
      await client.connect()
      await client.query(`listen switchboard_case_events; listen ${AGENT_CHANGES}`)
    } catch (err) {
      await client.end().catch(() => {})
      throw err
    }
    if (this.closed) {
      await client.end().catch(() => {})
      return
    }
    this.listener = client
  }

  /**
   * Notifications are gathered for a few milliseconds and handled together: one pipeline of
   * Redis claims, one query for the events this process won, one message to Redis. Under a
   * burst that is a few round trips per batch rather than three per event.
   */
  private pending: number[] = []
  private flushing: NodeJS.Timeout | undefined

  private queue(eventId: number): void {
    this.pending.push(eventId)
    this.flushing ??= setTimeout(() => {
      this.flushing = undefined
      const ids = this.pending.splice(0, this.pending.length)
      void this.publishOnce(ids).catch((err: Error) => this.deps.log.warn({ err: { message: err.message }, events: ids.length }, 'live events not published'))
    }, 5)
  }

  private async publishOnce(eventIds: number[]): Promise<void> {
    const claims = this.deps.redis.pipeline()
    for (const id of eventIds) claims.set(`${this.channel}:claimed:${id}`, '1', 'EX', 60, 'NX')
    const answers = (await claims.exec()) ?? []
    const won = eventIds.filter((_, i) => answers[i]?.[1] === 'OK')
    if (!won.length) return
    const { rows } = await this.deps.db.query<{
      id: number
      type: string
      created_at: Date
      partnership_id: string | null
      reference: string
      council_gss: string | null
      status: string
      work_status: string
      priority: string
      assigned_agent_id: number | null
      sla_due_at: Date | null
      first_placing: boolean
    }>({
      name: 'live-events',
      text: `select e.id, e.type, e.created_at, c.partnership_id, c.reference, c.council_gss, c.status, c.work_status, c.priority, c.assigned_agent_id, c.sla_due_at,
                    e.type in ('case.routed', 'case.triaged') and not exists (
                      select 1 from case_events p where p.case_id = e.case_id and p.id < e.id and p.type in ('case.routed', 'case.triaged')
                    ) as first_placing
               from case_events e join cases c on c.id = e.case_id where e.id = any($1::bigint[]) order by e.id`,
      values: [won]
    })
    const out: LiveEvent[] = []
    for (const e of rows) {
      const type = LIVE_TYPES[e.type]
      // a case of no partnership yet (a web contact before it is placed) is nobody's to see
      if (!type || !e.partnership_id) continue
      const live = (as: string): LiveEvent => ({
        type: as,
        event_id: e.id,
        at: e.created_at.toISOString(),
        partnership_id: e.partnership_id!,
        case: {
          reference: e.reference,
          council_gss: e.council_gss,
          status: e.status,
          work_status: e.work_status,
          priority: e.priority,
          assigned_agent_id: e.assigned_agent_id,
          sla_due_at: e.sla_due_at?.toISOString() ?? null
        }
      })
      // a case opened before its partnership was known is new to its agents when it is placed
      if (e.first_placing) out.push(live('case.created'))
      out.push(live(type))
    }
    if (out.length) await this.deps.redis.publish(this.channel, JSON.stringify(out))
  }
}

/**
 * An event as sent: serialised once however many sockets it goes to. Every agent of a
 * partnership receives every live event, so with 500 desks open one JSON.stringify and one
 * UTF-8 encoding per socket were most of an event's cost (the socket only frames the bytes).
 */
const wired = new WeakMap<LiveEvent, Buffer>()
export function wire(event: LiveEvent): Buffer {
  let bytes = wired.get(event)
  if (!bytes) {
    bytes = Buffer.from(JSON.stringify(event))
    wired.set(event, bytes)
  }
  return bytes
}
