import type { FastifyBodyParser, FastifyRequest } from 'fastify'
import { AppError } from '../errors.js'

// JSON may spell half of a surrogate pair on its own (`"\ud800"`) and JSON.parse keeps it:
// such a string is not Unicode text. pg sends a jsonb parameter through JSON.stringify, which
// writes it back as the escape, and Postgres refuses that ("Unicode low surrogate must follow
// a high surrogate": a 500 for a contact, a note, a council_reference); in a text parameter pg
// writes U+FFFD for it without a word. Raw UTF-8 cannot carry one (Node decodes a stray
// surrogate's bytes as U+FFFD), so only a body with a `\u` escape in it needs looking at.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/

type WellFormed = { isWellFormed(): boolean; toWellFormed(): string }
// String.prototype.isWellFormed is in Node 20; the ES2022 library the project compiles against predates it
const wellFormed = (s: string) => (s as unknown as WellFormed).isWellFormed()

/** The text with each lone surrogate replaced by U+FFFD, as a UTF-8 encoder writes it. */
export const toWellFormedText = (s: string): string => (s as unknown as WellFormed).toWellFormed()

// The walk keeps its own stack: JSON.parse takes arrays nested 400,000 deep, which would
// overflow the call stack of a recursive walk.
type Frame = { value: unknown; key: string | null; parent: Frame | null }
const MAX_PATH_PARTS = 8

function pathOf(frame: Frame): string {
  const keys: string[] = []
  for (let at: Frame | null = frame; at && at.key !== null; at = at.parent) keys.push(at.key)
  keys.reverse()
  return (keys.length > MAX_PATH_PARTS ? [...keys.slice(0, MAX_PATH_PARTS), '…'] : keys).join('.') || 'body'
}

/**
 * The dotted path ("contacts.0", "description") of the first string or property name in a
 * parsed JSON value that holds a lone surrogate, or undefined when there is none.
 */
export function loneSurrogateAt(root: unknown): string | undefined {
  const stack: Frame[] = [{ value: root, key: null, parent: null }]
  while (stack.length) {
    const frame = stack.pop()!
    const { value } = frame
    if (typeof value === 'string') {
      if (!wellFormed(value)) return pathOf(frame)
      continue
    }
    if (value === null || typeof value !== 'object') continue
    const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value)
    const bad = entries.find(([key]) => !wellFormed(key))
    if (bad) return pathOf({ value: null, key: toWellFormedText(bad[0]), parent: frame })
    // pushed last first, so the first in the document is looked at first
    for (let i = entries.length - 1; i >= 0; i--) stack.push({ value: entries[i]![1], key: entries[i]![0], parent: frame })
  }
  return undefined
}

type Done = (err: Error | null, body?: unknown) => void

/**
 * Wraps Fastify's own JSON parser (`app.getDefaultJsonParser`): a 400 naming the field when
 * a string holds a lone surrogate. Costs one substring search on bodies without a surrogate
 * escape, which is every body a browser or our forms send.
 */
export function wellFormedJsonParser(parse: FastifyBodyParser<string>) {
  return (req: FastifyRequest, body: string, done: Done) => {
    parse(req, body, (err: Error | null, value?: unknown) => {
      if (err) return done(err)
      const field = body.includes('\\u') && SURROGATE_ESCAPE.test(body) ? loneSurrogateAt(value) : undefined
      if (field === undefined) return done(null, value)
      done(new AppError('validation_failed', { field, message: `${field} must be Unicode text: it holds half of a UTF-16 surrogate pair (\\ud800 to \\udfff) without the other half` }))
    })
  }
}
