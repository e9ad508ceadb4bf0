import {AgnesApi, RegisterTableRequest, RegistryRow} from '../api/agnes-api.js'
import {AgnesError, ConflictError, InvalidInputError} from '../errors.js'
import {Reporter, silentReporter} from '../ui/reporter.js'

export const SOURCE_TYPES = ['keboola', 'bigquery', 'jira', 'local', 'databricks', 'snowflake'] as const
export const QUERY_MODES = ['local', 'remote', 'materialized'] as const
export const SYNC_STRATEGIES = ['full_refresh', 'incremental', 'partitioned'] as const

/** A table as given on the command line or in a file: raw, unvalidated strings. */
export interface TableInput {
  name?: string
  sourceType?: string
  bucket?: string
  table?: string
  queryMode?: string
  syncStrategy?: string
  primaryKey?: string | string[]
  description?: string
  syncSchedule?: string
}

/** A table that passed validation: the id Agnes will derive and the exact request body. */
export interface ValidTable {
  id: string
  request: RegisterTableRequest
}

export interface TableResult {
  id: string
  name: string
  /** The server's status (registered | ok | accepted | rebuild_failed), or exists when it was already there. */
  status: string
  httpStatus?: number
  changed: boolean
  message?: string
  viewName?: string
}

/** Agnes derives the id from the name: trimmed, lowercased, spaces → `_`; it must match [a-z_][a-z0-9_]*. */
export const TABLE_ID_PATTERN = /^[a-z_][a-z0-9_]*$/
const MAX_ID_LENGTH = 128
const MAX_DESCRIPTION_LENGTH = 2000
const BARE_PART = /^[A-Za-z0-9_][A-Za-z0-9_$-]*$/
const QUOTED_PART_CONTENT = /^[A-Za-z0-9_. $-]+$/
const KEBOOLA_BUCKET = /^(in|out)\.[A-Za-z0-9_-]+$/
const KEBOOLA_TABLE = /^[A-Za-z0-9_-]+$/
const BIGQUERY_DATASET = /^[A-Za-z0-9_]{1,1024}$/
const BIGQUERY_TABLE = /^[A-Za-z0-9_-]{1,1024}$/
const COLUMN = /^[A-Za-z0-9_]+$/
const CONTROL_CHARACTERS = /[\u0000-\u001F\u007F]/

export function tableIdFor(name: string): string {
  return name.trim().toLowerCase().replace(/ /g, '_')
}

/**
 * Splits a dotted identifier whose parts are bare (orders, c-crm) or double-quoted ("in.c-crm"). Returns
 * undefined for anything else: quotes inside parts, semicolons, spaces outside quotes, empty parts.
 */
export function parseQualifiedIdentifier(text: string): string[] | undefined {
  const parts: string[] = []
  let rest = text.trim()
  if (rest === '') return undefined
  for (;;) {
    let part: string
    if (rest.startsWith('"')) {
      const end = rest.indexOf('"', 1)
      if (end === -1) return undefined
      part = rest.slice(1, end)
      if (!QUOTED_PART_CONTENT.test(part)) return undefined
      rest = rest.slice(end + 1)
    } else {
      const dot = rest.indexOf('.')
      part = dot === -1 ? rest : rest.slice(0, dot)
      if (!BARE_PART.test(part)) return undefined
      rest = dot === -1 ? '' : rest.slice(dot)
    }

    parts.push(part)
    if (rest === '') return parts
    if (!rest.startsWith('.')) return undefined
    rest = rest.slice(1)
    if (rest === '') return undefined
  }
}

function normaliseChoice<T extends string>(value: string | undefined, choices: readonly T[], field: string, errors: string[]): T | undefined {
  if (value === undefined) return undefined
  const normalised = value.trim().toLowerCase().replace(/-/g, '_')
  if ((choices as readonly string[]).includes(normalised)) return normalised as T
  errors.push(`${field}: "${value}" is not one of ${choices.join(', ')}`)
  return undefined
}

function validSchedule(schedule: string): boolean {
  const every = /^every\s+([1-9]\d*)\s*[mh]$/i.exec(schedule)
  if (every) return true
  const daily = /^daily\s+(\d{2}:\d{2}(?:\s*,\s*\d{2}:\d{2})*)$/i.exec(schedule)
  if (daily) {
    return daily[1].split(',').every((time) => {
      const [hours, minutes] = time.trim().split(':').map(Number)
      return hours < 24 && minutes < 60
    })
  }

  const cron = /^cron\s+(.+)$/i.exec(schedule)
  return cron !== null && cron[1].trim().split(/\s+/).length === 5 && cron[1].trim().split(/\s+/).every((field) => /^[0-9A-Za-z*/,?-]+$/.test(field))
}

/** Bucket and source table as Agnes stores them, from --bucket/--table (or a full Keboola id in --table). */
function sourceCoordinates(input: TableInput, sourceType: string | undefined, label: string, errors: string[]): {bucket?: string; sourceTable?: string} {
  const bucketParts = input.bucket === undefined ? undefined : parseQualifiedIdentifier(input.bucket)
  const tableParts = input.table === undefined ? undefined : parseQualifiedIdentifier(input.table)
  if (input.bucket !== undefined && !bucketParts) errors.push(`${label}bucket: "${input.bucket}" is not a valid identifier (letters, digits, _ - . and "quoted" parts only)`)
  if (input.table !== undefined && !tableParts) errors.push(`${label}table: "${input.table}" is not a valid identifier (letters, digits, _ - . and "quoted" parts only)`)
  if ((input.bucket !== undefined && !bucketParts) || (input.table !== undefined && !tableParts)) return {}

  if (sourceType === 'keboola' || sourceType === 'bigquery') {
    let bucket = bucketParts?.join('.')
    let sourceTable = tableParts?.join('.')
    if (bucketParts === undefined && tableParts !== undefined && tableParts.length > 1) {
      bucket = tableParts.slice(0, -1).join('.')
      sourceTable = tableParts.at(-1)
    }

    const [bucketRule, tableRule, bucketExample] =
      sourceType === 'keboola' ? [KEBOOLA_BUCKET, KEBOOLA_TABLE, 'in.c-crm'] : [BIGQUERY_DATASET, BIGQUERY_TABLE, 'analytics']
    if (bucket === undefined || sourceTable === undefined) {
      errors.push(`${label}${sourceType} tables need --bucket and --table (e.g. --bucket ${bucketExample} --table orders${sourceType === 'keboola' ? ', or --table in.c-crm.orders' : ''})`)
      return {}
    }

    if (!bucketRule.test(bucket)) errors.push(`${label}bucket: "${bucket}" is not a ${sourceType === 'keboola' ? 'Keboola bucket id (in.c-name or out.c-name)' : 'BigQuery dataset name'}`)
    if (!tableRule.test(sourceTable)) errors.push(`${label}table: "${sourceTable}" is not a valid ${sourceType} table name`)
    return {bucket, sourceTable}
  }

  return {bucket: input.bucket?.trim(), sourceTable: input.table?.trim()}
}

/**
 * Validates one table before anything is sent: the name Agnes turns into an id, identifiers that cannot
 * inject (no quotes inside parts, no `;`, no spaces outside quotes), and the enumerations of the API.
 */
export function validateTable(input: TableInput, options: {where?: string; defaultSourceType?: string} = {}): {table?: ValidTable; errors: string[]} {
  const errors: string[] = []
  const label = options.where ? `${options.where}: ` : ''
  const name = input.name?.trim() ?? ''
  const id = tableIdFor(name)
  if (name === '') errors.push(`${label}name is required (--name)`)
  else if (!TABLE_ID_PATTERN.test(id) || id.length > MAX_ID_LENGTH) {
    errors.push(
      `${label}name: "${input.name}" gives the table id "${id}", which must match [a-z_][a-z0-9_]* (letters, digits and _, not starting with a digit, at most ${MAX_ID_LENGTH} characters)`,
    )
  }

  const sourceType = normaliseChoice(input.sourceType ?? options.defaultSourceType, SOURCE_TYPES, `${label}source-type`, errors)
  const queryMode = normaliseChoice(input.queryMode, QUERY_MODES, `${label}query-mode`, errors)
  const syncStrategy = normaliseChoice(input.syncStrategy, SYNC_STRATEGIES, `${label}sync-strategy`, errors)
  if ((sourceType === 'databricks' || sourceType === 'snowflake') && queryMode !== 'materialized' && queryMode !== 'remote') {
    errors.push(`${label}${sourceType} tables need --query-mode materialized or remote`)
  }

  const {bucket, sourceTable} = sourceCoordinates(input, sourceType, label, errors)
  const primaryKey = (Array.isArray(input.primaryKey) ? input.primaryKey : (input.primaryKey?.split(',') ?? [])).map((column) => String(column).trim()).filter(Boolean)
  for (const column of primaryKey) if (!COLUMN.test(column)) errors.push(`${label}primary-key: "${column}" is not a column name (letters, digits and _)`)

  const description = input.description?.trim()
  if (description !== undefined && (CONTROL_CHARACTERS.test(description) || description.length > MAX_DESCRIPTION_LENGTH)) {
    errors.push(`${label}description: must be one line of at most ${MAX_DESCRIPTION_LENGTH} characters`)
  }

  const syncSchedule = input.syncSchedule?.trim()
  if (syncSchedule !== undefined && !validSchedule(syncSchedule)) {
    errors.push(`${label}sync-schedule: "${input.syncSchedule}" is not "every 15m", "every 2h", "daily 06:00[,18:00]" or "cron <5 fields>"`)
  }

  if (errors.length > 0) return {errors}
  const request: RegisterTableRequest = {name}
  if (sourceType) request.source_type = sourceType
  if (bucket) request.bucket = bucket
  if (sourceTable) request.source_table = sourceTable
  if (queryMode) request.query_mode = queryMode
  if (syncStrategy) request.sync_strategy = syncStrategy
  if (primaryKey.length > 0) request.primary_key = primaryKey
  if (description) request.description = description
  if (syncSchedule) request.sync_schedule = syncSchedule
  return {errors, table: {id, request}}
}

/** Validates every table, and duplicates among them, and throws one error listing all problems (exit 3). */
export function validateTables(inputs: Array<{input: TableInput; where?: string}>, defaultSourceType?: string): ValidTable[] {
  const errors: string[] = []
  const tables: ValidTable[] = []
  const seen = new Map<string, string>()
  for (const {input, where} of inputs) {
    const result = validateTable(input, {defaultSourceType, where})
    errors.push(...result.errors)
    if (!result.table) continue
    const previous = seen.get(result.table.id)
    if (previous !== undefined) errors.push(`${where ? `${where}: ` : ''}table id "${result.table.id}" is given twice (also ${previous})`)
    seen.set(result.table.id, where ?? result.table.id)
    tables.push(result.table)
  }

  if (errors.length > 0) {
    throw new InvalidInputError(errors.length === 1 ? errors[0] : `${errors.length} problems in the table definitions:\n  - ${errors.join('\n  - ')}`, {
      details: {errors},
      hint: 'Nothing was sent to the instance. Fix the values above and re-run.',
    })
  }

  return tables
}

function coordinatesDiffer(existing: RegistryRow, request: RegisterTableRequest): string[] {
  const pairs: Array<[string, unknown, unknown]> = [
    ['source_type', existing.source_type, request.source_type],
    ['bucket', existing.bucket, request.bucket],
    ['source_table', existing.source_table, request.source_table],
  ]
  return pairs.filter(([, before, wanted]) => wanted !== undefined && before !== undefined && before !== wanted).map(([field, before, wanted]) => `${field} is ${String(before)}, not ${String(wanted)}`)
}

function withResults(error: unknown, results: TableResult[]): unknown {
  if (!(error instanceof AgnesError) || results.length === 0) return error
  const done = results.map((result) => `${result.id} (${result.status})`).join(', ')
  return new AgnesError(error.code, error.exitCode, `${error.message}\nAlready done before the failure: ${done}`, {
    cause: error,
    details: error.details,
    hint: error.hint,
    result: {tables: results},
  })
}

/**
 * Registers validated tables. Existing ids are found first (GET /api/admin/registry), so a duplicate fails
 * before anything is registered (exit 7), or is skipped with ifNotExists. A 409 from a concurrent registration
 * is treated the same way. A failure part-way reports what was already registered.
 */
export async function registerTables(
  api: AgnesApi,
  tables: ValidTable[],
  options: {ifNotExists: boolean; reporter?: Reporter},
): Promise<TableResult[]> {
  const reporter = options.reporter ?? silentReporter
  const existing = new Map((await api.registry()).map((row) => [row.id, row]))
  const duplicates = tables.filter((table) => existing.has(table.id)).map((table) => table.id)
  if (duplicates.length > 0 && !options.ifNotExists) {
    throw new ConflictError(`already registered: ${duplicates.join(', ')}`, {
      details: {duplicates},
      hint: 'Nothing was registered. Pass --if-not-exists to skip tables that exist, or choose another --name.',
    })
  }

  const results: TableResult[] = []
  for (const table of tables) {
    const name = table.request.name
    const row = existing.get(table.id)
    if (row) {
      const drift = coordinatesDiffer(row, table.request)
      if (drift.length > 0) reporter.warn(`${table.id} is already registered but differs: ${drift.join('; ')}. It was left as it is.`)
      results.push({changed: false, id: table.id, name, status: 'exists'})
      continue
    }

    let outcome
    try {
      outcome = await api.registerTable(table.request)
    } catch (error) {
      throw withResults(error, results)
    }

    if (outcome.kind === 'exists') {
      if (!options.ifNotExists) {
        throw withResults(new ConflictError(`${table.id}: ${outcome.message}`, {hint: 'Pass --if-not-exists to skip tables that exist, or choose another --name.'}), results)
      }

      results.push({changed: false, id: table.id, message: outcome.message, name, status: 'exists'})
    } else if (outcome.kind === 'rebuild-failed') {
      reporter.warn(`${table.id} is registered, but the instance failed to build its view: ${outcome.message}. Re-running register-table will not fix it; check the app log.`)
      results.push({changed: true, httpStatus: outcome.httpStatus, id: outcome.body.id ?? table.id, message: outcome.message, name, status: 'rebuild_failed'})
    } else {
      const {body} = outcome
      results.push({
        changed: true,
        httpStatus: outcome.httpStatus,
        id: body.id ?? table.id,
        message: body.message,
        name: body.name ?? name,
        status: body.status ?? 'registered',
        viewName: body.view_name,
      })
    }

    reporter.progress(`  ${table.id}: ${results.at(-1)?.status}`)
  }

  return results
}
