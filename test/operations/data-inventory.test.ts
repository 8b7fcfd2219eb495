import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../../src/lib/paths.js'
import { createTestContext, type TestContext } from '../helpers/context.js'

/** The inventory as written: table → its classified columns. */
function inventory(): Map<string, Set<string>> {
  const text = readFileSync(join(projectRoot, 'docs', 'data-protection.md'), 'utf8')
  const out = new Map<string, Set<string>>()
  let table: string | null = null
  for (const line of text.split('\n')) {
    const heading = /^### ([a-z_]+)\s*$/.exec(line)
    if (heading) {
      table = heading[1]!
      out.set(table, new Set())
      continue
    }
    const list = /^- (?:not personal|personal): (.*)$/.exec(line)
    if (list && table) {
      for (const c of list[1]!.split(',').map((s) => s.trim()).filter((s) => s && s !== '(none)')) out.get(table)!.add(c)
      continue
    }
    // the reference tables, one bullet each: "- **name:** col, col."
    const row = /^- \*\*([a-z_]+):\*\* (.*)$/.exec(line)
    if (row) out.set(row[1]!, new Set(row[2]!.replace(/\.$/, '').split(',').map((s) => s.trim())))
  }
  return out
}

let ctx: TestContext
beforeAll(async () => {
  ctx = await createTestContext({}, { mail: 'demo' })
})
afterAll(async () => {
  await ctx?.close()
})

describe('the personal-data inventory (docs/data-protection.md)', () => {
  it('classifies every table and column of the live schema, and nothing that is not there', async () => {
    const rows = await ctx.query<{ table_name: string; column_name: string }>(
      `select table_name, column_name from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`
    )
    const live = new Map<string, Set<string>>()
    for (const r of rows) live.set(r.table_name, (live.get(r.table_name) ?? new Set()).add(r.column_name))
    const listed = inventory()
    const unclassified = [...live].flatMap(([t, cols]) => [...cols].filter((c) => !listed.get(t)?.has(c)).map((c) => `${t}.${c}`))
    const stale = [...listed].flatMap(([t, cols]) => [...cols].filter((c) => !live.get(t)?.has(c)).map((c) => `${t}.${c}`))
    expect(unclassified, 'columns the inventory does not classify').toEqual([])
    expect(stale, 'columns the inventory lists that the schema no longer has').toEqual([])
  })
})
