import { createReadStream } from 'node:fs'
import { access } from 'node:fs/promises'
import { ConfigError, loadConfig } from '../config.js'
import { createPool } from '../db/pool.js'
import { ensureDatabase, migrate } from '../db/migrate.js'
import { importOnspd } from '../seed/onspd-import.js'

/** npm run import:onspd -- FILE: loads an ONS Postcode Directory CSV into coverage. */
async function main(file: string | undefined): Promise<void> {
  if (!file) throw new ConfigError('usage: npm run import:onspd -- path/to/ONSPD.csv')
  await access(file).catch(() => {
    throw new ConfigError(`cannot read ${file}`)
  })
  const config = loadConfig()
  await ensureDatabase(config.DATABASE_URL)
  const pool = createPool(config)
  try {
    await migrate(pool)
    const started = Date.now()
    const result = await importOnspd(pool, createReadStream(file))
    console.log(JSON.stringify({ ...result, seconds: (Date.now() - started) / 1000 }))
    const known = await pool.query('select count(*)::int as n from councils')
    if (known.rows[0].n === 0) console.error('note: no councils are configured, so every row was outside the deployment; run npm start once to load them')
  } finally {
    await pool.end()
  }
}

main(process.argv[2]).catch((err: unknown) => {
  console.error(`import:onspd: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
