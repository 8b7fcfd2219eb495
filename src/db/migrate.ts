import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { ConfigError } from '../config.js'
import { projectRoot } from '../lib/paths.js'
import type { Db } from './pool.js'
import { ROUTINES } from './routines.js'

const MIGRATIONS_DIR = join(projectRoot, 'migrations')
// any constant works; it only has to be the same in every process that migrates
const MIGRATION_LOCK = 7_284_119

/**
 * Creates the database named in `url` if it does not exist yet, by connecting to the
 * server's `postgres` maintenance database.
 */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url)
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''))
  if (!name) throw new Error('DATABASE_URL names no database')
  const admin = new URL(url)
  admin.pathname = '/postgres'
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3_000 })
  await client.connect()
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name])
    if (found.rowCount) return false
    // identifiers cannot be bound as parameters; escapeIdentifier quotes the name safely
    return await client.query(`create database ${client.escapeIdentifier(name)}`).then(
      () => true,
      (err: { code?: string }) => {
        // Created meanwhile by another process: 42P04, or, when both CREATE DATABASE
        // statements ran at the same moment, a unique violation on pg_database (23505).
        if (err.code === '42P04' || err.code === '23505') return false
        throw err
      }
    )
  } finally {
    await client.end()
  }
}

/**
 * Applies numbered SQL files from `dir` (migrations/ by default) that have not run yet, each
 * in its own transaction, under an advisory lock so that concurrent starts apply each once.
 * Returns the names applied.
 *
 * Each applied file's sha256 is kept in schema_migrations, and a start whose copy of an
 * applied file differs refuses to run: the database was built from the old text, so the edit
 * would never reach it (nor reach it the same way everywhere). Why not a ready-made runner
 * such as postgrator: it keeps its own table layout, so every existing deployment's records
 * would have to be migrated across, and this runner already serialises concurrent starts.
 */
export async function migrate(pool: Db, dir: string = MIGRATIONS_DIR, routines: readonly string[] = ROUTINES): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort()
  const sources = new Map<string, { sql: string; checksum: string }>()
  for (const file of files) {
    const sql = await readFile(join(dir, file), 'utf8')
    sources.set(file, { sql, checksum: checksumOf(sql) })
  }
  const client = await pool.connect()
  const applied: string[] = []
  try {
    // The pool's statement and lock timeouts are for serving requests; a migration may
    // rewrite a large table and wait for the lock of a busy one, and must be let finish.
    await client.query('set statement_timeout = 0; set lock_timeout = 0')
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
    await client.query(`create table if not exists schema_migrations (
      name text primary key, applied_at timestamptz not null default now())`)
    // added after the first deployments: their rows have none until backfilled below
    await client.query('alter table schema_migrations add column if not exists checksum text')
    const done = new Map((await client.query<{ name: string; checksum: string | null }>('select name, checksum from schema_migrations')).rows.map((r) => [r.name, r.checksum]))
    for (const [file, recorded] of done) {
      // A row without a file is left alone: an older release may start against a database
      // that a newer one has migrated further (a rollback, or a rolling deploy).
      const source = sources.get(file)
      if (!source || recorded === source.checksum) continue
      if (recorded === null) {
        // migrated before checksums were kept, from these same shipped files
        await client.query('update schema_migrations set checksum = $2 where name = $1 and checksum is null', [file, source.checksum])
        continue
      }
      throw new ConfigError(
        `migration ${file} was edited after it was applied (its checksum no longer matches the database's record): a shipped migration must not be edited; restore it and put the change in a new migration`
      )
    }
    for (const [file, { sql, checksum }] of sources) {
      if (done.has(file)) continue
      await client.query('begin')
      try {
        // the SQL sources this migration names (its triggers call their functions) first
        for (const routine of requiredRoutines(sql)) await client.query(await readFile(resolve(projectRoot, routine), 'utf8'))
        await client.query(sql)
        await client.query('insert into schema_migrations (name, checksum) values ($1, $2)', [file, checksum])
        await client.query('commit')
      } catch (err) {
        await client.query('rollback')
        throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err })
      }
      applied.push(file)
    }
    await applyRoutines(client, routines)
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {})
    // back to the connection's own settings before it returns to the pool
    const reset = await client.query('reset statement_timeout; reset lock_timeout').then(() => true, () => false)
    client.release(!reset)
  }
  return applied
}

/**
 * The SQL sources a migration names in lines `-- requires: src/…/x.sql` (from the project's
 * root). A migration that creates a trigger on a function written after the functions moved
 * out of migrations needs that function before it runs, and the sources are otherwise applied
 * after the last migration. Applying one early is harmless (`create or replace`); it is
 * applied, and recorded, again after the migrations.
 */
export function requiredRoutines(sql: string): string[] {
  return [...sql.matchAll(/^--\s*requires:\s*(\S+\.sql)\s*$/gm)].map((m) => m[1]!)
}

/**
 * Applies each SQL function source file (src/db/routines.ts) whose text differs from the
 * one the database last applied, each in its own transaction, under the migration lock the
 * caller holds. Unlike a migration, such a file is meant to be edited: the edit is the
 * change, and it reaches every database the next time one migrates.
 */
async function applyRoutines(client: import('pg').PoolClient, routines: readonly string[]): Promise<void> {
  await client.query(`create table if not exists schema_routines (
    name text primary key, checksum text not null, applied_at timestamptz not null default now())`)
  const done = new Map((await client.query<{ name: string; checksum: string }>('select name, checksum from schema_routines')).rows.map((r) => [r.name, r.checksum]))
  for (const name of routines) {
    const sql = await readFile(resolve(projectRoot, name), 'utf8')
    const checksum = checksumOf(sql)
    if (done.get(name) === checksum) continue
    await client.query('begin')
    try {
      await client.query(sql)
      await client.query(
        `insert into schema_routines (name, checksum) values ($1, $2)
         on conflict (name) do update set checksum = excluded.checksum, applied_at = now()`,
        [name, checksum]
      )
      await client.query('commit')
    } catch (err) {
      await client.query('rollback')
      throw new Error(`SQL source ${name} failed: ${(err as Error).message}`, { cause: err })
    }
  }
}

/** sha256 of a migration's text, with CRLF read as LF so a Windows checkout is not an edit. */
export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex')
}
