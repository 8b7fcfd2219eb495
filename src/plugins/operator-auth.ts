import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { AppError } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** set once the request's operator key has been checked (the read log names the reader) */
    operator?: boolean
  }
}

/** A preHandler that admits requests bearing the operator key (Authorization: Bearer ...). */
export function requireOperatorKey(key: string) {
  const expected = createHash('sha256').update(key).digest()
  return async (req: FastifyRequest) => {
    const header = req.headers.authorization ?? ''
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    const given = createHash('sha256').update(token).digest()
    if (!token || !timingSafeEqual(given, expected)) throw new AppError('unauthorized')
    req.operator = true
  }
}
