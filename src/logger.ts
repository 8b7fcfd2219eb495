import { pino, type Logger } from 'pino'
import type { Config } from './config.js'

/**
 * JSON logs that never carry personal data: requests are logged by method and path only
 * (a query string can hold an email address), errors by type, code and message (pg puts
 * row values in `detail`, which is dropped), and known personal fields are censored
 * wherever they appear.
 */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: config.LOG_LEVEL,
      base: { service: 'switchboard' },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: {
        req: (req: { method?: string; url?: string; id?: string }) => ({ method: req.method, path: req.url?.split('?')[0] }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
        err: (err: Error & { code?: unknown; statusCode?: unknown }) => ({
          type: err.name,
          message: err.message,
          code: err.code,
          statusCode: err.statusCode,
          stack: err.stack
        })
      },
      redact: {
        paths: ['name', 'email', 'phone', 'text', 'body', 'description', 'contact', '*.name', '*.email', '*.phone', '*.text', '*.body', '*.description', '*.contact'],
        censor: '[redacted]'
      }
    },
    destination
  )
}

/** The part of a logger that domain code uses; satisfied by pino and by Fastify's request logger. */
export type Log = Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>
