import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { projectRoot } from '../lib/paths.js'
import type { Db } from './pool.js'

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
 * Applies numbered SQL files from migrations/ that have not run yet, each in its own
 * transaction, under an advisory lock so that concurrent starts apply each once.
 * Returns the names applied.
 */
export async function migrate(pool: Db): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort()
  const client = await pool.connect()
  const applied: string[] = []
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
    await client.query(`create table if not exists schema_migrations (
      name text primary key, applied_at timestamptz not null default now())`)
    const done = new Set((await client.query<{ name: string }>('select name from schema_migrations')).rows.map((r) => r.name))
    for (const file of files) {
      if (done.has(file)) continue
      const sql = await readFile(join(MIGRATIONS_DIR, file), 'utf8')
      await client.query('begin')
      try {
        await client.query(sql)
        await client.query('insert into schema_migrations (name) values ($1)', [file])
        await client.query('commit')
      } catch (err) {
        await client.query('rollback')
        throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err })
      }
      applied.push(file)
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {})
    client.release()
  }
  return applied
}
