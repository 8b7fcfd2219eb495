import { createHash, randomBytes } from 'node:crypto'
import { appendFile, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config.js'
import { ensureDatabase, migrate } from '../../src/db/migrate.js'
import { createPool, type Db } from '../../src/db/pool.js'
import { ROUTINES } from '../../src/db/routines.js'
import { projectRoot } from '../../src/lib/paths.js'
import { Redis } from 'ioredis'
import { deleteQueueKeys, dropDatabase } from '../helpers/context.js'
import { runSwitchboard } from '../helpers/processes.js'

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

// each test: a database of its own and a temporary copy of whatever migrations/ holds now
let url: string
let pool: Db
let dir: string
let shipped: string[]
beforeEach(async () => {
  url = `postgres://postgres@127.0.0.1:5432/sb_test_mig_${randomBytes(5).toString('hex')}`
  await ensureDatabase(url)
  pool = createPool({ DATABASE_URL: url, DATABASE_POOL_SIZE: 2 })
  dir = await mkdtemp(join(tmpdir(), 'sb-migrations-'))
  await cp(join(projectRoot, 'migrations'), dir, { recursive: true })
  shipped = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort()
})
afterEach(async () => {
  await pool?.end()
  await dropDatabase(url)
  await rm(dir, { recursive: true, force: true })
})

async function recorded() {
  const { rows } = await pool.query<{ name: string; checksum: string | null }>('select name, checksum from schema_migrations order by name')
  return rows
}

/** The error migrate() refuses with (fails the test if it does not refuse). */
async function refusal(): Promise<ConfigError> {
  const err = await migrate(pool, dir).then(
    () => null,
    (e: unknown) => e
  )
  expect(err).toBeInstanceOf(ConfigError)
  return err as ConfigError
}

describe('the migration runner', () => {
  it('applies every migration once and records its checksum; a second run applies nothing', async () => {
    expect(shipped.length).toBeGreaterThan(0)
    expect(await migrate(pool, dir)).toEqual(shipped)
    const rows = await recorded()
    expect(rows.map((r) => r.name)).toEqual(shipped)
    for (const row of rows) expect(row.checksum).toBe(sha256(await readFile(join(dir, row.name), 'utf8')))

    expect(await migrate(pool, dir)).toEqual([])
    expect(await recorded()).toEqual(rows)
  })

  it('applies an SQL function source after the migrations, again whenever its text changes, and not otherwise', async () => {
    const source = join(dir, 'routine.sql')
    const version = async (n: number) => writeFile(source, `create or replace function sb_test_routine() returns int language sql as 'select ${n}';\n`)
    const value = async () => (await pool.query<{ v: number }>('select sb_test_routine() as v')).rows[0]!.v
    const appliedAt = async () => (await pool.query<{ at: string }>('select applied_at::text as at from schema_routines where name = $1', [source])).rows[0]?.at

    await version(1)
    // the migrations' own list is unchanged by the sources it applies
    expect(await migrate(pool, dir, [source])).toEqual(shipped)
    expect(await value()).toBe(1)
    const first = await appliedAt()
    await migrate(pool, dir, [source])
    expect(await appliedAt()).toBe(first)

    await version(2)
    await migrate(pool, dir, [source])
    expect(await value()).toBe(2)
    expect(await appliedAt()).not.toBe(first)
  })

  it("applies the SQL source a migration requires before that migration, so its trigger can call the source's function", async () => {
    const source = join(dir, 'needed.sql')
    await writeFile(source, `create or replace function sb_test_needed() returns trigger language plpgsql as $$ begin raise exception 'refused by the routine'; end $$;\n`)
    await writeFile(
      join(dir, '999_test_trigger.sql'),
      `-- requires: ${source}\ncreate table guarded (id int);\ncreate trigger guarded_refuse before insert on guarded for each statement execute function sb_test_needed();\n`
    )
    // without the line, the migration would fail: the function does not exist before the migrations end
    expect(await migrate(pool, dir, [source])).toContain('999_test_trigger.sql')
    await expect(pool.query('insert into guarded values (1)')).rejects.toThrow(/refused by the routine/)
  })

  it('holds every SQL function in one source file of src/db/routines.ts, and the database runs that text', async () => {
    await migrate(pool, dir)
    const { rows } = await pool.query<{ name: string; def: string }>(
      `select p.proname as name, pg_get_functiondef(p.oid) as def
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public'
          and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')`
    )
    expect(rows.length).toBeGreaterThan(5)
    const sources = await Promise.all(ROUTINES.map(async (file) => ({ file, sql: await readFile(join(projectRoot, file), 'utf8') })))
    for (const { name, def } of rows) {
      const holders = sources.filter((s) => new RegExp(`create or replace function ${name}\\(`).test(s.sql))
      expect(holders.map((h) => h.file), `the source file of ${name}`).toHaveLength(1)
      // the body as the source file has it: between its dollar quotes
      const source = holders[0]!.sql
      const from = source.indexOf('$$', source.search(new RegExp(`create or replace function ${name}\\(`))) + 2
      const body = source.slice(from, source.indexOf('$$', from))
      expect(def, name).toContain(body)
    }
  })

  it('applies a new migration added after the first run, and only that one', async () => {
    await migrate(pool, dir)
    await writeFile(join(dir, '999_test_added_later.sql'), 'create table added_later (id int primary key);\n')
    expect(await migrate(pool, dir)).toEqual(['999_test_added_later.sql'])
    await pool.query('select * from added_later')
  })

  it('refuses to run once an applied migration has been edited, naming the file, and applies nothing else', async () => {
    await migrate(pool, dir)
    const edited = shipped[0]!
    await appendFile(join(dir, edited), '\n-- a later tweak\nselect 1;\n')
    await writeFile(join(dir, '999_test_added_later.sql'), 'create table added_later (id int primary key);\n')

    const err = await refusal()
    expect(err.message).toContain(edited)
    expect(err.message).toContain('must not be edited')
    expect(err.message).toContain('new migration')
    expect(err.message).not.toContain('\n')
    // nothing applied, nothing re-recorded: the next start refuses the same way
    expect((await recorded()).map((r) => r.name)).toEqual(shipped)
    expect((await pool.query(`select to_regclass('added_later') as t`)).rows[0].t).toBeNull()
    expect((await refusal()).message).toContain(edited)
  })

  it('reads a CRLF checkout of the same files as unchanged', async () => {
    await migrate(pool, dir)
    for (const f of shipped) await writeFile(join(dir, f), (await readFile(join(dir, f), 'utf8')).replace(/\r?\n/g, '\r\n'))
    expect(await migrate(pool, dir)).toEqual([])
  })

  it('backfills the checksums of a database migrated before they were kept, and refuses an edit from then on', async () => {
    await migrate(pool, dir)
    // as an older release left it: no checksum column at all
    await pool.query('alter table schema_migrations drop column checksum')

    expect(await migrate(pool, dir)).toEqual([])
    const rows = await recorded()
    expect(rows.map((r) => r.name)).toEqual(shipped)
    for (const row of rows) expect(row.checksum).toBe(sha256(await readFile(join(dir, row.name), 'utf8')))

    // a row left without one (the column added, the backfill not yet run) is filled in too
    await pool.query('update schema_migrations set checksum = null where name = $1', [shipped[0]])
    expect(await migrate(pool, dir)).toEqual([])
    expect((await recorded())[0]!.checksum).not.toBeNull()

    const last = shipped[shipped.length - 1]!
    await appendFile(join(dir, last), '\nselect 2;\n')
    expect((await refusal()).message).toContain(last)
  })
})

describe('starting Switchboard against a database whose applied migration differs from the shipped file', () => {
  const name = `sb_test_mig_${randomBytes(5).toString('hex')}`
  const dbUrl = `postgres://postgres@127.0.0.1:5432/${name}`
  afterAll(async () => {
    await dropDatabase(dbUrl)
    // the start created its queues' keys before it stopped at the migration
    const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true })
    await redis.connect()
    try {
      await deleteQueueKeys({ redis }, `sbtest-${name}`)
    } finally {
      redis.disconnect()
    }
  })

  it('exits 1 with one line naming the migration', async () => {
    await ensureDatabase(dbUrl)
    const db = createPool({ DATABASE_URL: dbUrl, DATABASE_POOL_SIZE: 1 })
    try {
      const applied = await migrate(db)
      // the database's record no longer matches the file: what an edited shipped file looks like
      await db.query(`update schema_migrations set checksum = repeat('0', 64) where name = $1`, [applied[0]])
    } finally {
      await db.end()
    }
    const result = await runSwitchboard({ DATABASE_URL: dbUrl, REDIS_URL: 'redis://127.0.0.1:6379', PORT: '0', LOG_LEVEL: 'silent', QUEUE_PREFIX: `sbtest-${name}` })
    expect(result.code, result.stderr).toBe(1)
    const lines = result.stderr.split('\n').filter((l) => l.trim() !== '')
    expect(lines, result.stderr).toHaveLength(1)
    expect(lines[0]).toMatch(/^switchboard: migration 001_\S+\.sql was edited after it was applied/)
    expect(lines[0]).toContain('must not be edited')
  })
})
