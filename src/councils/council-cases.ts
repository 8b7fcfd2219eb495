import type { Queryable } from '../db/pool.js'
import { COUNCIL_EVENT_TYPES } from '../events/audience.js'
import type { EventData } from '../events/catalogue.js'
import { eventsFrom, sql } from '../events/record.js'

/** A case as its council's system sees it. */
export interface CouncilCase {
  id: number
  reference: string
  status: string
  back_office_status: string | null
  status_notes: string | null
  priority: string
  channel: string
  council_gss: string
  council_reference: string | null
  service_code: string | null
  /** the service's Local Government Service List code */
  service_lgsl: number | null
  team: string | null
  postcode: string | null
  lat: number | null
  lng: number | null
  /** the property (UPRN) and street (USRN) the case is about, when the channel gave them */
  uprn: string | null
  usrn: string | null
  /** what a reporting client (FixMyStreet) told of its report, as stored: see externalReportView */
  external_report: unknown
  description: string
  reported_name: string | null
  reported_email: string | null
  reported_phone: string | null
  created_at: Date
  updated_at: Date
  routed_at: Date | null
  sla_due_at: Date | null
}

const COLUMNS = `c.id, c.reference, c.status, c.back_office_status, c.status_notes, c.priority, c.channel, c.council_gss, c.council_reference,
                 c.service_code, (select s.lgsl from services s where s.code = c.service_code) as service_lgsl,
                 c.team, c.postcode, c.lat, c.lng, c.uprn, c.usrn, c.external_report, c.description, c.reported_name, c.reported_email, c.reported_phone,
                 c.created_at, c.updated_at, c.routed_at, c.sla_due_at`

export interface CaseFilter {
  councils: string[]
  status?: string
  service?: string
  reference?: string
  /** the property's or the street's reference: every case about it */
  uprn?: string
  usrn?: string
  updatedSince?: Date
  /** the last (updated_at, id) of the previous page; the time as Postgres wrote it (microseconds) */
  after?: { updatedAt: string; id: number }
  limit: number
}

/**
 * A council's cases, oldest change first, so a system that syncs with `updated_since` and
 * the cursor sees every change once. Only cases placed with one of `councils`.
 */
export async function listCouncilCases(db: Queryable, f: CaseFilter): Promise<(CouncilCase & { updated_at_exact: string })[]> {
  const { rows } = await db.query<CouncilCase & { updated_at_exact: string }>(
    // updated_at_exact: a JS Date keeps milliseconds only, and the cursor must not lose the rest
    `select ${COLUMNS}, c.updated_at::text as updated_at_exact from cases c
      where c.council_gss = any($1::text[])
        and ($2::text is null or c.status = $2)
        and ($3::text is null or c.service_code = $3)
        and ($4::text is null or c.reference = $4)
        and ($5::timestamptz is null or c.updated_at >= $5)
        and ($6::timestamptz is null or (c.updated_at, c.id) > ($6, $7::bigint))
        and ($9::text is null or c.uprn = $9)
        and ($10::text is null or c.usrn = $10)
      order by c.updated_at, c.id
      limit $8`,
    [f.councils, f.status ?? null, f.service ?? null, f.reference ?? null, f.updatedSince ?? null, f.after?.updatedAt ?? null, f.after?.id ?? 0, f.limit, f.uprn ?? null, f.usrn ?? null]
  )
  return rows
}

/** One case, if it is placed with one of `councils`; null otherwise (not found and not theirs look the same). */
export async function findCouncilCase(db: Queryable, councils: string[], reference: string): Promise<CouncilCase | null> {
  const { rows } = await db.query<CouncilCase>(`select ${COLUMNS} from cases c where c.reference = $1 and c.council_gss = any($2::text[])`, [reference, councils])
  return rows[0] ?? null
}

/**
 * A case's messages and the events its council may see (src/events/audience.ts): never an
 * agent's internal note, nor why a case was transferred, merged or assigned.
 */
export async function caseMessagesAndEvents(db: Queryable, caseId: number) {
  const [messages, events] = await Promise.all([
    db.query(
      `select id, direction, channel, kind, subject, body, sender, recipient, status, author, created_at from messages where case_id = $1 order by id`,
      [caseId]
    ),
    db.query(`select type, actor, reason, data, created_at from case_events where case_id = $1 and type = any($2::text[]) order by id`, [caseId, COUNCIL_EVENT_TYPES])
  ])
  return { messages: messages.rows, events: events.rows }
}

/**
 * A council's own fields: its priority, its reference for the case, and the property (UPRN)
 * and street (USRN) its gazetteer says the case is about. Recorded as an event.
 */
export async function updateCouncilFields(
  db: Queryable,
  caseId: number,
  fields: { priority?: string; councilReference?: string; uprn?: string; usrn?: string },
  actor: string
): Promise<void> {
  const changed = Object.entries({ priority: fields.priority, council_reference: fields.councilReference, uprn: fields.uprn, usrn: fields.usrn }).filter(([, v]) => v !== undefined)
  if (!changed.length) return
  const words = changed.map(([k]) => (k === 'uprn' || k === 'usrn' ? k.toUpperCase() : k.replace('_', ' ')))
  const data: EventData<'case.updated'> = Object.fromEntries(changed)
  const event = eventsFrom(
    { from: 'c', caseId: sql('id'), type: 'case.updated', actor, reason: `The council set ${words.join(' and ')}`, data },
    [caseId, fields.priority ?? null, fields.councilReference ?? null, fields.uprn ?? null, fields.usrn ?? null]
  )
  await db.query(
    `with c as (
       update cases set priority = coalesce($2, priority), council_reference = coalesce($3, council_reference),
                        uprn = coalesce($4, uprn), usrn = coalesce($5, usrn), updated_at = clock_timestamp()
        where id = $1 returning id
     )
     ${event.text}`,
    event.values
  )
}

/** An internal note from the council's system: on the case's record, never sent to the resident. */
export async function addCouncilNote(db: Queryable, caseId: number, body: string, actor: string): Promise<void> {
  const event = eventsFrom({ from: 'c', caseId: sql('id'), type: 'note.added', actor, reason: 'The council added a note', data: { note: body } }, [caseId])
  await db.query(`with c as (update cases set updated_at = clock_timestamp() where id = $1 returning id) ${event.text}`, event.values)
}
