import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv'
import ajvFormats from 'ajv-formats'
import type { FastifySchema, FastifySchemaCompiler } from 'fastify'

// Fastify's own defaults (@fastify/ajv-compiler), except that unknown properties are refused
// rather than dropped; one error is enough and allErrors would let a crafted body cost more
// Patterns are compiled without the `u` flag: ours are ASCII classes (control characters,
// reference letters), which match the same with or without it, and the flag made checking
// a contact's fields measurably slower.
const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, addUsedSchema: false, unicodeRegExp: false }

// ajv-formats is CommonJS: at run time its default export is the plugin itself, while its
// types describe an ES module whose `default` holds it
const addFormats = ajvFormats as unknown as typeof ajvFormats.default

function ajv(options: Options): Ajv {
  const instance = new Ajv({ ...common, ...options })
  // uuid, date-time ... as the default compiler has them
  addFormats(instance)
  return instance
}

// A JSON body has types of its own, so "lat": "51.5" is a mistake to refuse, not to fix up.
// A querystring, a path or a header is only ever text: `?limit=5` has to become the integer
// 5 or no number-typed parameter could ever be valid.
const strict = ajv({ coerceTypes: false })
const coercing = ajv({ coerceTypes: 'array' })

// Ajv turns any text JavaScript reads as a number into one: "1e400" and "Infinity" become
// Infinity, which then skips minimum and maximum (they test finite numbers only) and reached
// SQL; "0x10" became 16. A number in a querystring, a path or a header is written in digits.
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/

type PropertySchema = { type?: unknown; minimum?: number; maximum?: number }

/** "must be a whole number from 1 to 200", from the property's own schema. */
function digitsWanted(s: PropertySchema): string {
  const what = s.type === 'integer' ? 'a whole number' : 'a number'
  if (s.minimum !== undefined && s.maximum !== undefined) return `must be ${what} from ${s.minimum} to ${s.maximum}, in digits`
  if (s.minimum !== undefined) return `must be ${what} of at least ${s.minimum}, in digits`
  return `must be ${what} in digits`
}

/**
 * Wraps a coercing validator so that each integer or number property given as text must be
 * digits (at most 2^53 - 1 either way) before Ajv coerces it. Parts without such properties (most
 * headers, the contact intake's) keep Ajv's function as it is, at no cost.
 */
function digitsOnly(schema: { properties?: Record<string, PropertySchema> }, validate: ValidateFunction): ValidateFunction {
  const numeric = Object.entries(schema.properties ?? {}).filter(([, s]) => s.type === 'integer' || s.type === 'number')
  if (!numeric.length) return validate
  const checked = ((data: unknown, ctx?: Parameters<ValidateFunction>[1]) => {
    if (data && typeof data === 'object') {
      const given = data as Record<string, unknown>
      for (const [name, s] of numeric) {
        const value = given[name]
        // repeated (?a=1&a=2) arrives as an array: each must be digits
        for (const one of Array.isArray(value) ? value : [value]) {
          if (typeof one === 'string' && !(DECIMAL.test(one) && Math.abs(Number(one)) <= Number.MAX_SAFE_INTEGER)) {
            const error: ErrorObject = { instancePath: `/${name}`, schemaPath: `#/properties/${name}/type`, keyword: 'type', params: { type: s.type }, message: digitsWanted(s) }
            checked.errors = [error]
            return false
          }
        }
      }
    }
    const ok = validate(data, ctx)
    checked.errors = validate.errors
    return ok
  }) as ValidateFunction
  // Fastify passes the parent (so Ajv may coerce the root) only to a function with a schemaEnv
  checked.schemaEnv = validate.schemaEnv
  checked.schema = validate.schema
  return checked
}

/**
 * Compiles each route schema with the Ajv for its part of the request: bodies strict, the
 * rest coerced, numbers in them from digits only.
 */
export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) =>
  httpPart === 'querystring' || httpPart === 'params' || httpPart === 'headers'
    ? digitsOnly(schema as { properties?: Record<string, PropertySchema> }, coercing.compile(schema as object))
    : strict.compile(schema as object)
