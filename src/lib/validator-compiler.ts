import { Ajv, type Options } from 'ajv'
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

/** Compiles each route schema with the Ajv for its part of the request (body strict, the rest coerced). */
export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) =>
  (httpPart === 'querystring' || httpPart === 'params' || httpPart === 'headers' ? coercing : strict).compile(schema as object)
