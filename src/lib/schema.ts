import Type, { type TNumberOptions, type TStringOptions } from 'typebox'

/** A string enum as plain JSON Schema (`enum`), typed as the union of its values. */
export function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })
}

// Patterns whose failure the error handler tells in words: "email must not contain control
// characters" helps a caller, `must match pattern "^[^\x00-\x1f\x7f]*$"` does not.
const patternWords = new Map<string, string>()

/** Registers what a failed `pattern` means, in words, and returns the pattern. */
export function describedPattern(pattern: string, words: string): string {
  patternWords.set(pattern, words)
  return pattern
}

/** The words registered for a pattern, for the validation error's message. */
export function describePattern(pattern: string | undefined): string | undefined {
  return pattern === undefined ? undefined : patternWords.get(pattern)
}

// Refused at the edge, before intake or SQL: Postgres cannot store U+0000 in text (a NUL
// once made a whole intake batch fail), and no other control character belongs in a name,
// an address or a code. DEL (U+007F) is a control character too.
const SINGLE_LINE = describedPattern('^[^\\x00-\\x1f\\x7f]*$', 'must not contain line breaks or other control characters')
// Free text keeps tab, line feed and carriage return: browsers submit a textarea's line
// breaks as CRLF (the web channel turns them into LF). Every other control is refused.
const MULTI_LINE = describedPattern('^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$', 'must not contain control characters other than tabs and line breaks')

/** A one-line text field: no C0 control character (tab, line breaks, NUL ...) and no DEL. */
export function SingleLine(options: Omit<TStringOptions, 'pattern'> = {}) {
  return Type.String({ ...options, pattern: SINGLE_LINE })
}

/** Free text: line breaks and tabs allowed, no other control character. */
export function MultiLine(options: Omit<TStringOptions, 'pattern'> = {}) {
  return Type.String({ ...options, pattern: MULTI_LINE })
}

// Every id is a bigint, but a JSON or JavaScript number holds integers exactly only up to
// 2^53 - 1: a bound here keeps `99999999999999999999` (more than a bigint holds) from SQL.
type IntegerOptions = Omit<TNumberOptions, 'minimum' | 'maximum'>

/** A row id in a path, a query or a body: a whole number from 1 to Number.MAX_SAFE_INTEGER. */
export function Id(options: IntegerOptions = {}) {
  return Type.Integer({ ...options, minimum: 1, maximum: Number.MAX_SAFE_INTEGER })
}

/** A whole number from `minimum` to `maximum`: a page size, an offset, a count of days. */
export function IntegerBetween(minimum: number, maximum: number, options: IntegerOptions = {}) {
  return Type.Integer({ ...options, minimum, maximum })
}

/** A timestamp in a response: a Date from pg, serialised as an ISO 8601 date-time. */
export const Timestamp = Type.Unsafe<Date | string>({ type: 'string', format: 'date-time' })

/** The schema or null. */
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
