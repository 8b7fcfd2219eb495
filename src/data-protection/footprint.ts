import type { Queryable } from '../db/pool.js'
import { AppError } from '../errors.js'
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'
import { normaliseContactPoint } from '../lib/contact-points.js'

export interface ContactPoint {
  kind: 'email' | 'phone'
  value: string
}

/**
 * A contact as an operator types it (an email address or a phone number in any usual form),
 * normalised; a clear 400 otherwise. Looser than intake about numbers: a text can come from
 * any number Twilio hands us (a number the phone metadata does not know, one of Ofcom's
 * drama ranges), and its sender must still be found to be exported or erased, so a possible
 * number is enough here, where it is only looked up.
 */
export function contactOf(input: string): ContactPoint {
  const point = normaliseContactPoint(input)
  if (point) return point
  if (!input.includes('@')) {
    const parsed = parsePhoneNumberFromString(input.trim(), 'GB')
    if (parsed?.isPossible()) return { kind: 'phone', value: parsed.number }
  }
  throw new AppError('validation_failed', { field: 'contact', message: 'Give an email address or a phone number' })
}

export interface Footprint {
  contact: ContactPoint
  /** the residents the contact belongs to, and every resident merged into or from them */
  residentIds: number[]
  /**
   * Their cases, and any other case reported with this contact (someone giving the
   * resident's address or number on a form holds their personal data too). Oldest first.
   */
  caseIds: number[]
}

/**
 * Everything in Switchboard that is about the person reached at a contact point: the
 * resident who holds it, the residents joined to them by merges (either way), their cases,
 * and the cases reported with that email or phone. Subject access and erasure both start
 * here, so they always cover the same records.
 */
export async function findFootprint(db: Queryable, contact: ContactPoint): Promise<Footprint> {
  const { rows } = await db.query<{ resident_ids: string[] | null; case_ids: string[] | null }>(
    `with recursive holder as (
       select resident_id as id from contact_points where kind = $1 and value = $2
     ), family(id) as (
       select id from holder
       union
       select r.id from residents r join family f on r.merged_into = f.id or r.id = (select merged_into from residents where id = f.id)
     ), found as (
       select id from cases where resident_id in (select id from family)
       union
       select id from cases where ($1 = 'email' and reported_email = $2) or ($1 = 'phone' and reported_phone = $2)
     )
     select (select array_agg(id order by id) from family) as resident_ids,
            (select array_agg(id order by id) from found) as case_ids`,
    [contact.kind, contact.value]
  )
  const row = rows[0]
  return {
    contact,
    residentIds: (row?.resident_ids ?? []).map(Number),
    caseIds: (row?.case_ids ?? []).map(Number)
  }
}
