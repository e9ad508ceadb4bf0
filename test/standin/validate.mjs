// JSON-schema validation of Agnes request bodies and query parameters against the real OpenAPI subset.
// Errors mimic FastAPI/pydantic: {loc, msg, type}. Unlike pydantic's lax mode nothing is coerced
// (a string "5" is not an integer), so a client that relies on coercion fails here first.
import {readFileSync} from 'node:fs'

export const openapi = JSON.parse(readFileSync(new URL('./openapi-subset.json', import.meta.url), 'utf8'))

const COMPONENT_PREFIX = '#/components/schemas/'

const TYPE_ERRORS = {
  string: ['string_type', 'Input should be a valid string'],
  integer: ['int_type', 'Input should be a valid integer'],
  number: ['float_type', 'Input should be a valid number'],
  boolean: ['bool_type', 'Input should be a valid boolean'],
  array: ['list_type', 'Input should be a valid list'],
  null: ['none_required', 'Input should be None'],
}

const FORMAT_CHECKS = {
  email: (value) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value),
  'date-time': (value) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.test(value) && !Number.isNaN(Date.parse(value)),
  date: (value) => /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value)),
  uri: (value) => URL.canParse(value),
  uuid: (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value),
}

export function componentSchema(name) {
  const schema = openapi.components.schemas[name]
  if (!schema) throw new Error(`Unknown component schema '${name}'`)
  return schema
}

/** Validate `value` against a component schema name (e.g. 'ConfigureRequest') or a schema object. */
export function validateSchema(schemaOrName, value, loc = ['body']) {
  const schema = typeof schemaOrName === 'string' ? componentSchema(schemaOrName) : schemaOrName
  const errors = []
  checkValue(schema, value, loc, errors)
  return {ok: errors.length === 0, errors}
}

/** Find the OpenAPI operation for a method and a concrete path ('/api/jobs/abc?x=1' matches '/api/jobs/{job_id}'). */
export function findOperation(method, path) {
  const pathname = path.split(/[?#]/)[0]
  const verb = method.toLowerCase()
  for (const [template, operations] of Object.entries(openapi.paths)) {
    const params = matchTemplate(template, pathname)
    if (params && operations[verb]) return {template, operation: operations[verb], pathParams: params}
  }
  return undefined
}

/** Validate a JSON request body (`undefined` = no body sent) for an operation of the subset. */
export function validateRequestBody(method, path, body) {
  const found = findOperation(method, path)
  if (!found) {
    return {ok: false, errors: [{loc: [], msg: `${method.toUpperCase()} ${path} is not in the Agnes OpenAPI subset`, type: 'unknown_operation'}]}
  }
  const {requestBody} = found.operation
  // FastAPI ignores a body sent to an operation that declares none.
  if (!requestBody) return {ok: true, errors: []}
  if (body === undefined || (body === null && requestBody.required)) {
    return requestBody.required
      ? {ok: false, errors: [{loc: ['body'], msg: 'Field required', type: 'missing'}]}
      : {ok: true, errors: []}
  }
  return validateSchema(requestBody.content['application/json'].schema, body)
}

/**
 * Validate query parameters (a URLSearchParams or a plain object of strings) as FastAPI parses them.
 * Returns the parsed values (defaults applied) so a server can use them directly.
 */
export function validateQueryParams(method, path, query) {
  const found = findOperation(method, path)
  if (!found) {
    return {ok: false, errors: [{loc: [], msg: `${method.toUpperCase()} ${path} is not in the Agnes OpenAPI subset`, type: 'unknown_operation'}], values: {}}
  }
  const raw = query instanceof URLSearchParams ? Object.fromEntries(query) : query
  const errors = []
  const values = {}
  for (const parameter of found.operation.parameters ?? []) {
    if (parameter.in !== 'query') continue
    const loc = ['query', parameter.name]
    if (raw[parameter.name] === undefined) {
      if (parameter.required) errors.push({loc, msg: 'Field required', type: 'missing'})
      else values[parameter.name] = parameter.schema.default ?? null
      continue
    }
    const parsed = parseQueryValue(parameter.schema, raw[parameter.name], loc, errors)
    if (parsed === undefined) continue
    checkValue(parameter.schema, parsed, loc, errors)
    values[parameter.name] = parsed
  }
  return {ok: errors.length === 0, errors, values}
}

function parseQueryValue(schema, text, loc, errors) {
  const type = schema.type ?? nonNullBranch(schema)?.type
  if (type === 'boolean') {
    const lowered = text.toLowerCase()
    if (['true', '1', 'yes', 'on', 't', 'y'].includes(lowered)) return true
    if (['false', '0', 'no', 'off', 'f', 'n'].includes(lowered)) return false
    errors.push({loc, msg: 'Input should be a valid boolean, unable to interpret input', type: 'bool_parsing'})
    return undefined
  }
  if (type === 'integer') {
    if (/^\s*-?\d+\s*$/.test(text)) return Number(text)
    errors.push({loc, msg: 'Input should be a valid integer, unable to parse string as an integer', type: 'int_parsing'})
    return undefined
  }
  return text
}

function matchTemplate(template, pathname) {
  const templateParts = template.split('/')
  const pathParts = pathname.split('/')
  if (templateParts.length !== pathParts.length) return undefined
  const params = {}
  for (const [index, part] of templateParts.entries()) {
    const placeholder = /^\{(\w+)\}$/.exec(part)
    if (placeholder) {
      if (!pathParts[index]) return undefined
      params[placeholder[1]] = decodeURIComponent(pathParts[index])
    } else if (part !== pathParts[index]) {
      return undefined
    }
  }
  return params
}

function resolveRef(schema) {
  if (!schema.$ref) return schema
  if (!schema.$ref.startsWith(COMPONENT_PREFIX)) throw new Error(`Unsupported $ref ${schema.$ref}`)
  return componentSchema(schema.$ref.slice(COMPONENT_PREFIX.length))
}

function nonNullBranch(schema) {
  const branches = (schema.anyOf ?? []).filter((branch) => branch.type !== 'null')
  return branches.length === 1 ? resolveRef(branches[0]) : undefined
}

function typeMatches(type, value) {
  switch (type) {
    case 'string': return typeof value === 'string'
    case 'integer': return Number.isInteger(value)
    case 'number': return typeof value === 'number' && Number.isFinite(value)
    case 'boolean': return typeof value === 'boolean'
    case 'array': return Array.isArray(value)
    case 'object': return value !== null && typeof value === 'object' && !Array.isArray(value)
    case 'null': return value === null
    default: throw new Error(`Unsupported schema type ${type}`)
  }
}

function typeError(schema, value, loc) {
  if (schema.type === 'integer' && typeof value === 'number' && Number.isFinite(value)) {
    return {loc, msg: 'Input should be a valid integer, got a number with a fractional part', type: 'int_from_float'}
  }
  if (schema.type === 'object') {
    return schema.properties
      ? {loc, msg: 'Input should be a valid dictionary or object to extract fields from', type: 'model_attributes_type'}
      : {loc, msg: 'Input should be a valid dictionary', type: 'dict_type'}
  }
  const [type, msg] = TYPE_ERRORS[schema.type]
  return {loc, msg, type}
}

function checkValue(schemaOrRef, value, loc, errors) {
  const schema = resolveRef(schemaOrRef)
  if (schema.anyOf) return checkAnyOf(schema, value, loc, errors)
  for (const part of schema.allOf ?? []) checkValue(part, value, loc, errors)

  if (schema.enum && !schema.enum.some((allowed) => allowed === value)) {
    errors.push({loc, msg: `Input should be ${schema.enum.map((allowed) => `'${allowed}'`).join(' or ')}`, type: 'enum'})
    return
  }
  if (schema.type === undefined) return
  if (!typeMatches(schema.type, value)) {
    errors.push(typeError(schema, value, loc))
    return
  }
  if (schema.type === 'string') checkString(schema, value, loc, errors)
  else if (schema.type === 'integer' || schema.type === 'number') checkNumber(schema, value, loc, errors)
  else if (schema.type === 'array') checkArray(schema, value, loc, errors)
  else if (schema.type === 'object') checkObject(schema, value, loc, errors)
}

function checkAnyOf(schema, value, loc, errors) {
  // Optional[X] (X | null): pydantic reports X's own errors at the same loc.
  const single = nonNullBranch(schema)
  if (single && schema.anyOf.length === 2) {
    if (value !== null) checkValue(single, value, loc, errors)
    return
  }
  const branchErrors = []
  for (const branch of schema.anyOf) {
    const attempt = []
    checkValue(branch, value, loc, attempt)
    if (attempt.length === 0) return
    branchErrors.push(...attempt)
  }
  errors.push(...branchErrors)
}

function checkString(schema, value, loc, errors) {
  if (schema.minLength !== undefined && value.length < schema.minLength) {
    errors.push({loc, msg: `String should have at least ${schema.minLength} characters`, type: 'string_too_short'})
  }
  if (schema.maxLength !== undefined && value.length > schema.maxLength) {
    errors.push({loc, msg: `String should have at most ${schema.maxLength} characters`, type: 'string_too_long'})
  }
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
    errors.push({loc, msg: `String should match pattern '${schema.pattern}'`, type: 'string_pattern_mismatch'})
  }
  const formatCheck = FORMAT_CHECKS[schema.format]
  if (formatCheck && !formatCheck(value)) {
    errors.push({loc, msg: `Input should be a valid ${schema.format}`, type: 'value_error'})
  }
}

function checkNumber(schema, value, loc, errors) {
  if (schema.minimum !== undefined && value < schema.minimum) {
    errors.push({loc, msg: `Input should be greater than or equal to ${schema.minimum}`, type: 'greater_than_equal'})
  }
  if (schema.maximum !== undefined && value > schema.maximum) {
    errors.push({loc, msg: `Input should be less than or equal to ${schema.maximum}`, type: 'less_than_equal'})
  }
  if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) {
    errors.push({loc, msg: `Input should be greater than ${schema.exclusiveMinimum}`, type: 'greater_than'})
  }
  if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) {
    errors.push({loc, msg: `Input should be less than ${schema.exclusiveMaximum}`, type: 'less_than'})
  }
}

function checkArray(schema, value, loc, errors) {
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    errors.push({loc, msg: `List should have at least ${schema.minItems} items`, type: 'too_short'})
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    errors.push({loc, msg: `List should have at most ${schema.maxItems} items`, type: 'too_long'})
  }
  if (schema.items) for (const [index, item] of value.entries()) checkValue(schema.items, item, [...loc, index], errors)
}

function checkObject(schema, value, loc, errors) {
  const properties = schema.properties ?? {}
  for (const name of schema.required ?? []) {
    if (value[name] === undefined) errors.push({loc: [...loc, name], msg: 'Field required', type: 'missing'})
  }
  for (const [name, item] of Object.entries(value)) {
    if (item === undefined) continue
    if (properties[name]) checkValue(properties[name], item, [...loc, name], errors)
    else if (schema.additionalProperties === false) errors.push({loc: [...loc, name], msg: 'Extra inputs are not permitted', type: 'extra_forbidden'})
    else if (typeof schema.additionalProperties === 'object') checkValue(schema.additionalProperties, item, [...loc, name], errors)
  }
}
