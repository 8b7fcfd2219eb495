import type { Queryable } from '../db/pool.js'
import type { ContactPoint } from './footprint.js'

/** Subject access: one JSON document of everything held about the person at a contact point. */
export async function exportResident(_db: Queryable, _contact: ContactPoint, _opts: { actor: string }): Promise<Record<string, unknown>> {
  throw new Error('not built yet')
}
