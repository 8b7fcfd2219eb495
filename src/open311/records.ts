import type { Queryable } from '../db/pool.js'
import type { LocationKind } from './public-location.js'

// Never listed without a key, whatever services.public says: a mistaken flag must not
// publish someone's council tax, benefits, housing or care case.
export const NEVER_PUBLIC = ['council_tax', 'housing_benefit', 'housing_repair', 'adult_social_care'] as const

/** A case as Open311 readers see it, before the visibility rules pick its fields. */
export interface RequestRow {
  id: number
  reference: string
  status: string
  status_notes: string | null
  service_code: string
  service_name: string | null
  description: string
  council_name: string | null
  created_at: Date
  updated_at: Date
  sla_due_at: Date | null
  postcode: string | null
  lat: number | null
  lng: number | null
  /** where the service's problems are: at a home unless the catalogue says street */
  location_kind: LocationKind
  /** as the reporting client sent them (Open311 POSTs keep their form in raw_inbound) */
  address: string | null
  address_id: string | null
  media_url: string | null
}

export interface RequestFilter {
  jurisdiction: string
  /** without a key: only services marked public, never the ones in NEVER_PUBLIC */
  publicOnly: boolean
  /** references; when given, the other filters are ignored (as the standard says) */
  references?: string[] | null
  serviceCodes?: string[] | null
  start?: Date
  end?: Date
  status?: 'open' | 'closed' | null
  limit: number
}

// A case belongs to the council it is placed with, or, until placed, the one it was sent to
// (the same rule the webhook fan-out uses).
const OWNER = 'coalesce(c.council_gss, c.requested_council_gss)'

/** The jurisdiction's cases that match, newest first. */
export async function listRequests(db: Queryable, f: RequestFilter): Promise<RequestRow[]> {
  const byRef = Boolean(f.references?.length)
  const { rows } = await db.query<RequestRow>(
    `select c.id, c.reference, c.status, c.status_notes, coalesce(c.service_code, c.requested_service_code, 'general_enquiry') as service_code,
            s.name as service_name, c.description, co.name as council_name, c.created_at, c.updated_at, c.sla_due_at, c.postcode, c.lat, c.lng,
            coalesce(s.location_kind, 'property') as location_kind,
            first.payload->>'address_string' as address, nullif(first.payload->>'address_id', '#NOTPINPOINTED#') as address_id,
            first.payload->>'media_url' as media_url
       from cases c
       left join services s on s.code = coalesce(c.service_code, c.requested_service_code)
       left join councils co on co.gss = ${OWNER}
       -- the message that opened the case, for what an Open311 client said of the place
       left join lateral (
         select r.payload from messages m join raw_inbound r on r.id = m.raw_inbound_id
          where m.case_id = c.id and m.direction = 'inbound' and c.channel = 'open311'
          order by m.id limit 1
       ) first on true
      where ${OWNER} = $1
        and (not $2::boolean or (coalesce(s.public, false) and s.code <> all($3::text[])))
        and (case when $4::boolean then c.reference = any($5::text[])
                  else (($6::text[] is null or coalesce(c.service_code, c.requested_service_code) = any($6::text[]))
                        and c.created_at >= $7 and c.created_at <= $8
                        and ($9::text is null or (c.status = 'resolved') = ($9::text = 'closed')))
             end)
      order by c.created_at desc, c.id desc
      limit $10`,
    [
      f.jurisdiction,
      f.publicOnly,
      [...NEVER_PUBLIC],
      byRef,
      f.references ?? [],
      f.serviceCodes?.length ? f.serviceCodes : null,
      f.start ?? new Date(0),
      f.end ?? new Date(),
      f.status ?? null,
      f.limit
    ]
  )
  return rows
}

/** The case with this reference in one of these councils, or null (not there, or not theirs). */
export async function findCaseOf(db: Queryable, reference: string, councils: string[]): Promise<{ id: number; reference: string } | null> {
  const { rows } = await db.query<{ id: number; reference: string }>(
    `select c.id, c.reference from cases c where c.reference = $1 and ${OWNER} = any($2::text[])`,
    [reference.toUpperCase(), councils]
  )
  return rows[0] ?? null
}

export interface UpdateRow {
  update_id: string
  reference: string
  status: string
  updated_at: Date
  description: string
  external_status_code: string | null
}

/**
 * The council's status updates on a jurisdiction's cases in a time window, oldest first, as
 * FixMyStreet polls them. The public's comments posted by a client are not the council's
 * word: a client would show them back as the council's, so they are never listed.
 */
export async function listUpdates(db: Queryable, jurisdiction: string, start: Date, end: Date, limit: number): Promise<UpdateRow[]> {
  const { rows } = await db.query<UpdateRow>(
    `select u.update_id, c.reference, u.status, u.updated_at, u.description, u.external_status_code
       from case_updates u join cases c on c.id = u.case_id
      where ${OWNER} = $1 and u.author = 'council' and u.updated_at >= $2 and u.updated_at <= $3
      order by u.updated_at, u.id
      limit $4`,
    [jurisdiction, start, end, limit]
  )
  return rows
}
