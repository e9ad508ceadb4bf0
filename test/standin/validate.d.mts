// Types for validate.mjs (so TypeScript tests can import it).

/** A pydantic/FastAPI-style validation error. `loc` starts with 'body' or 'query'. */
export interface ValidationIssue {
  loc: Array<string | number>
  msg: string
  type: string
}

export interface ValidationResult {
  ok: boolean
  errors: ValidationIssue[]
}

export interface FoundOperation {
  template: string
  operation: Record<string, unknown>
  pathParams: Record<string, string>
}

/** The parsed OpenAPI subset (openapi-subset.json). */
export const openapi: {paths: Record<string, Record<string, unknown>>; components: {schemas: Record<string, unknown>}}

/** A component schema by name, e.g. 'ConfigureRequest'; throws for an unknown name. */
export function componentSchema(name: string): Record<string, unknown>

/** Validate a value against a component schema name or a schema object. */
export function validateSchema(schemaOrName: string | Record<string, unknown>, value: unknown, loc?: Array<string | number>): ValidationResult

/** The operation of the subset a method + concrete path (query string allowed) belongs to. */
export function findOperation(method: string, path: string): FoundOperation | undefined

/** Validate a JSON body (`undefined` = no body) for an operation; an unknown operation is an error. */
export function validateRequestBody(method: string, path: string, body: unknown): ValidationResult

/** Validate and parse query parameters as FastAPI does; `values` has the defaults applied. */
export function validateQueryParams(
  method: string,
  path: string,
  query: URLSearchParams | Record<string, string>,
): ValidationResult & {values: Record<string, unknown>}
