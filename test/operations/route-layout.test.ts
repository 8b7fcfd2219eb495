import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { projectRoot } from '../../src/lib/paths.js'

const ROUTES = join(projectRoot, 'src', 'routes')
const MAX_LINES = 200

/** Every source file under src/routes, as a path from the project root and its text. */
function routeFiles(dir = ROUTES): { path: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) return routeFiles(full)
    return entry.name.endsWith('.ts') ? [{ path: relative(projectRoot, full), text: readFileSync(full, 'utf8') }] : []
  })
}

describe('src/routes', () => {
  it('holds route files', () => {
    expect(routeFiles().length).toBeGreaterThan(10)
  })

  // routes read app.db, app.queues, app.catalogue… (src/plugins/infra.ts); the Infra is the process's, not theirs
  it('never imports src/infra.ts', () => {
    const importing = routeFiles()
      .filter((f) => /from '(?:\.\.\/)+infra\.js'/.test(f.text))
      .map((f) => f.path)
    expect(importing).toEqual([])
  })

  // a longer file splits along a seam: its schemas beside it, a helper into its domain's module
  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = routeFiles()
      .map((f) => ({ path: f.path, lines: f.text.split('\n').length - (f.text.endsWith('\n') ? 1 : 0) }))
      .filter((f) => f.lines > MAX_LINES)
    expect(long).toEqual([])
  })
})
