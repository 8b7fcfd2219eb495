import type { Transporter } from 'nodemailer'
import type { Db } from '../db/pool.js'
import type { Log } from '../logger.js'

export interface ErasureNoticeDeps {
  db: Db
  mail: Transporter
  log: Log
  settings: { maxAttempts: number; timeoutMs: number; mailFrom: string; production: boolean }
}

export async function sendErasureNotice(_deps: ErasureNoticeDeps, _job: { noticeId: number; outboxId: number }): Promise<string> {
  throw new Error('not built yet')
}
