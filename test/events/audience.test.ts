import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { VARIABLES } from '../../src/agents/canned-replies.js'
import { COUNCIL_EVENT_TYPES, EVENT_AUDIENCES, eventTypesFor, WEBHOOK_NAME_OF, type Audience } from '../../src/events/audience.js'
import { projectRoot } from '../../src/lib/paths.js'
import { LIVE_EVENT_TYPES, LIVE_TYPES } from '../../src/realtime/hub.js'
import { WEBHOOK_EVENT_TYPES } from '../../src/webhooks/subscriptions.js'

// The table of who sees which case event (the catalogue, src/events/catalogue.ts) against the
// code that writes events. Event types are written as literals: in TypeScript (the `type` of
// an event given to src/events/record.ts, an `event:` field, SQL inside a TypeScript string)
// and in the SQL functions (src/**/sql/*.sql) and migrations/. Every such literal must be a
// type of the table, or a name that is not a case event's. The compiler holds TypeScript's
// typed writes to the table too; this scan also sees the types written by SQL.

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path, ext) : ext.test(name) ? [path] : []
  })
}

const SOURCES = [...files(join(projectRoot, 'src'), /\.(ts|sql)$/), ...files(join(projectRoot, 'workers'), /\.ts$/), ...files(join(projectRoot, 'migrations'), /\.sql$/)].filter(
  (f) => !f.startsWith(join(projectRoot, 'src', 'events'))
)

/** Every 'domain.verb' literal of the source, with the files it is in. */
function literals(): Map<string, string[]> {
  const found = new Map<string, string[]>()
  for (const file of SOURCES) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/'([a-z_]+\.[a-z_]+)'/g)) {
      // a column the recorder is given, sql('p.case_id'), is not a name
      if (/\bsql(<.*>)?\($/.test(text.slice(text.lastIndexOf('\n', m.index) + 1, m.index))) continue
      found.set(m[1]!, [...(found.get(m[1]!) ?? []), relative(projectRoot, file)])
    }
  }
  return found
}

// Literals shaped like event types that name something else.
const OTHER_NAMES = new Set<string>([
  // what events are sent as, to council webhooks and to agents' live view
  ...WEBHOOK_EVENT_TYPES,
  ...LIVE_EVENT_TYPES,
  // who is viewing a case: a live-view message of the moment, never a case event
  'case.viewers',
  // the variables of canned replies (src/agents/canned-replies.ts)
  ...VARIABLES,
  // in the first versions of the live view's and the fan-out's functions (migrations 013, 016), written by nothing
  'case.claimed',
  'case.rerouted',
  'case.status_changed'
])
const notAnEvent = (name: string) => OTHER_NAMES.has(name) || /\.(csv|json|html)$/.test(name) || name.startsWith('switchboard.')

const table = Object.keys(EVENT_AUDIENCES)
const audiencesOf = (type: string) => (EVENT_AUDIENCES as Record<string, readonly Audience[]>)[type] ?? []

describe('the event audience table', () => {
  it('has every case event type the system writes', () => {
    const found = literals()
    // the scan sees the inserts: a guard against a scan that silently finds nothing
    for (const written of ['note.internal', 'case.transferred', 'case.opened', 'message.received', 'sla.breached', 'legal_hold.set']) expect(found.has(written)).toBe(true)
    const missing = [...found].filter(([name]) => !table.includes(name) && !notAnEvent(name)).map(([name, where]) => `${name} (${where.join(', ')})`)
    expect(missing, 'event types written without an audience in src/events/audience.ts').toEqual([])
  })

  it('has no type that nothing writes', () => {
    const found = literals()
    expect(table.filter((type) => !found.has(type))).toEqual([])
  })

  it('lets operators see everything, and tells councils nothing the contact centre cannot see', () => {
    for (const type of table) {
      expect(audiencesOf(type), type).toContain('audit')
      if (audiencesOf(type).includes('council')) expect(audiencesOf(type), type).toContain('agents')
    }
  })

  it("keeps agents' own words and the contact centre's work from councils and webhooks", () => {
    const internal = ['note.internal', 'case.transferred', 'case.assigned', 'case.released', 'case.work_status_changed', 'case.merged', 'case.merged_into', 'case.merge_undone', 'resident.merged', 'sla.warning', 'sla.breached']
    for (const type of internal) {
      expect(audiencesOf(type), type).toContain('agents')
      expect(audiencesOf(type), type).not.toContain('council')
      expect(audiencesOf(type), type).not.toContain('webhook')
    }
    expect(COUNCIL_EVENT_TYPES).toEqual(eventTypesFor('council'))
    expect(COUNCIL_EVENT_TYPES).toEqual(expect.arrayContaining(['case.opened', 'case.routed', 'case.updated', 'note.added', 'message.received']))
  })

  it('sends webhooks only of what the council may read, each under a name a council can subscribe to', () => {
    const hooked = eventTypesFor('webhook')
    expect(Object.keys(WEBHOOK_NAME_OF).sort()).toEqual([...hooked].sort())
    for (const type of hooked) {
      expect(audiencesOf(type), type).toContain('council')
      expect(WEBHOOK_EVENT_TYPES).toContain(WEBHOOK_NAME_OF[type as keyof typeof WEBHOOK_NAME_OF])
    }
  })

  it("shows agents' live view only events agents may see", () => {
    for (const type of Object.keys(LIVE_TYPES).filter((t) => table.includes(t))) expect(audiencesOf(type), type).toContain('agents')
  })

  it("announces to the live view exactly the events it shows (src/realtime/sql/announce.sql against LIVE_TYPES)", () => {
    const sql = readFileSync(join(projectRoot, 'src/realtime/sql/announce.sql'), 'utf8')
    const list = /select event_type in \(([^)]*)\)/.exec(sql)
    expect(list, 'the type list of case_event_is_live').not.toBeNull()
    const announced = [...list![1]!.matchAll(/'([a-z_.]+)'/g)].map((m) => m[1]!)
    expect(announced.sort()).toEqual(Object.keys(LIVE_TYPES).sort())
  })
})
