import type { Queryable } from '../db/pool.js'
import { isCaseEventType, type CaseEventType, type EventData } from './catalogue.js'

// The one way case events are written from TypeScript: a row, rows, or the insert of a
// set-based statement. Each holds `data` to the shape the catalogue gives the event's type;
// every value of ours goes as a parameter, only the caller's own SQL expressions as text.

/** No data required when a type's shape has no required field; the row then keeps `{}`. */
type DataArg<D> = {} extends D ? { data?: D } : { data: D }

/** A case event to record, its data of its type's shape. */
export type NewEvent<T extends CaseEventType = CaseEventType> = T extends CaseEventType
  ? { caseId: number; type: T; actor: string; reason: string } & DataArg<EventData<T>>
  : never

/** Records one case event: one statement. */
export async function recordEvent(db: Queryable, event: NewEvent): Promise<void> {
  await db.query('insert into case_events (case_id, type, actor, reason, data) values ($1, $2, $3, $4, $5::jsonb)', [
    event.caseId,
    checkedType(event.type),
    event.actor,
    event.reason,
    JSON.stringify(event.data ?? {})
  ])
}

/** Records case events in the order given, in one statement (none for none). */
export async function recordEvents(db: Queryable, events: readonly NewEvent[]): Promise<void> {
  if (!events.length) return
  await db.query(
    `insert into case_events (case_id, type, actor, reason, data)
     select (e.event->>'case_id')::bigint, e.event->>'type', e.event->>'actor', e.event->>'reason', e.event->'data'
       from jsonb_array_elements($1::jsonb) with ordinality as e (event, n)
      order by e.n`,
    [JSON.stringify(events.map((e) => ({ case_id: e.caseId, type: checkedType(e.type), actor: e.actor, reason: e.reason, data: e.data ?? {} })))]
  )
}

/**
 * A piece of the caller's SQL (a column of the statement's rows, an expression of them, one
 * of its own parameters), standing for a value of type T: the caller's word for it, as the
 * compiler cannot read SQL. In `type` and `data` name T (`sql<number>('id')`); the compiler
 * asks for it there. Never build one from user input.
 */
export class SqlExpr<T> {
  declare readonly __value?: T
  constructor(readonly text: string) {}
}
export const sql = <T>(text: string): SqlExpr<T> => new SqlExpr<T>(text)

type Field<V> = V | SqlExpr<V>

/** The events of a set-based statement: one per row of `from`, each field a value of ours or SQL of the caller's. */
export type EventsFrom<T extends CaseEventType> = {
  /** what follows `from` in the select (a CTE's name, joins, where, order by); none: one row */
  from?: string
  caseId: Field<number>
  type: T | SqlExpr<T>
  actor: Field<string>
  reason: Field<string>
} & DataArg<SqlExpr<EventData<T>> | { [K in keyof EventData<T>]: Field<EventData<T>[K]> }>

/**
 * The insert of a set-based statement's events, for a CTE or the statement itself (a
 * `returning` may follow): `insert into case_events (...) select ... from <from>`, with its
 * parameters numbered after the statement's own. `values` is the statement's parameters
 * then these: pass it to the query as they are.
 *
 *   const event = eventsFrom({ from: 'c', caseId: sql('id'), type: 'note.added', actor, reason, data: { note } }, [caseId])
 *   await db.query(`with c as (update cases ... where id = $1 returning id) ${event.text}`, event.values)
 */
export function eventsFrom<T extends CaseEventType>(events: EventsFrom<T>, params: readonly unknown[]): { text: string; values: unknown[] } {
  const values = [...params]
  const param = (value: unknown, cast: string) => `$${values.push(value)}::${cast}`
  const field = (value: unknown, cast: string) => (value instanceof SqlExpr ? value.text : param(value, cast))
  const type = events.type instanceof SqlExpr ? events.type.text : param(checkedType(events.type), 'text')
  const columns = [field(events.caseId, 'bigint'), type, field(events.actor, 'text'), field(events.reason, 'text'), data(events.data, param)]
  return {
    text: `insert into case_events (case_id, type, actor, reason, data) select ${columns.join(', ')}${events.from ? ` from ${events.from}` : ''}`,
    values
  }
}

/** Our fields as one jsonb parameter, joined by the caller's SQL for the rest. */
function data(value: object | undefined, param: (value: unknown, cast: string) => string): string {
  if (value instanceof SqlExpr) return value.text
  const ours: Record<string, unknown> = {}
  const theirs: string[] = []
  for (const [key, v] of Object.entries(value ?? {})) {
    if (!(v instanceof SqlExpr)) ours[key] = v
    else if (/^[a-z_][a-z0-9_]*$/.test(key)) theirs.push(`'${key}', ${v.text}`)
    else throw new Error(`case event data key ${JSON.stringify(key)} cannot be named in SQL`)
  }
  // the text depends on which fields are SQL, never on the values: a named statement keeps one text
  const built = theirs.length ? `jsonb_build_object(${theirs.join(', ')})` : null
  if (built && !Object.keys(ours).length) return built
  // JSON.stringify leaves out an undefined field, as the single-row writes always have
  const json = param(JSON.stringify(ours), 'jsonb')
  return built ? `${json} || ${built}` : json
}

/** The type as given, if the catalogue has it: the compiler checks our literals, this whatever got past it. */
function checkedType<T extends string>(type: T): T {
  if (!isCaseEventType(type)) throw new Error(`${type} is not a case event type of src/events/catalogue.ts`)
  return type
}
