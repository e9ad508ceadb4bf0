import {readFile} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'

import {InvalidInputError} from '../errors.js'
import type {ConfigureFlags} from './configure-settings.js'
import {TableInput} from './tables.js'

/**
 * The declarative input of `agnes configure --from-file setup.yaml` and `agnes register-table --from-file
 * tables.yaml`. Keys are the flag names (snake_case is accepted too). Secrets never go into these files:
 * they name a file holding the secret instead.
 */
export type SetupFile = Omit<ConfigureFlags, 'fromFile' | 'adminPasswordStdin' | 'keboolaTokenStdin' | 'revealPassword' | 'dryRun'> & {
  tables?: Array<{input: TableInput; where: string}>
}

type Kind = 'string' | 'path' | 'boolean' | 'number' | 'tables'

const SETUP_KEYS: Record<string, [keyof SetupFile, Kind]> = {
  'admin-email': ['adminEmail', 'string'],
  'admin-name': ['adminName', 'string'],
  'admin-password-file': ['adminPasswordFile', 'path'],
  'allowed-domain': ['allowedDomain', 'string'],
  'bigquery-location': ['bigqueryLocation', 'string'],
  'bigquery-project': ['bigqueryProject', 'string'],
  'confirm-connection-change': ['confirmConnectionChange', 'boolean'],
  'data-source': ['dataSource', 'string'],
  discover: ['discover', 'boolean'],
  'generate-password': ['generatePassword', 'boolean'],
  'instance-name': ['instanceName', 'string'],
  'keboola-token-file': ['keboolaTokenFile', 'path'],
  'keboola-url': ['keboolaUrl', 'string'],
  'passwordless-admin': ['passwordlessAdmin', 'boolean'],
  sync: ['sync', 'boolean'],
  tables: ['tables', 'tables'],
  wait: ['wait', 'boolean'],
  'wait-timeout': ['waitTimeout', 'number'],
}

const TABLE_KEYS: Record<string, keyof TableInput> = {
  bucket: 'bucket',
  description: 'description',
  name: 'name',
  'primary-key': 'primaryKey',
  'query-mode': 'queryMode',
  'source-table': 'table',
  'source-type': 'sourceType',
  'sync-schedule': 'syncSchedule',
  'sync-strategy': 'syncStrategy',
  table: 'table',
}

/** Keys that would put a secret into a file that tends to be committed. */
const SECRET_KEYS: Record<string, string> = {
  'admin-password': 'admin-password-file (or AGNES_ADMIN_PASSWORD)',
  'bootstrap-token': 'AGNES_BOOTSTRAP_TOKEN',
  'keboola-token': 'keboola-token-file (or AGNES_KEBOOLA_TOKEN)',
  password: 'admin-password-file (or AGNES_ADMIN_PASSWORD)',
  token: 'AGNES_TOKEN or --token-file',
}

function canonicalKey(key: string): string {
  return key.trim().toLowerCase().replace(/_/g, '-')
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({length: b.length + 1}, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]
    previous[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]
      previous[j] = Math.min(previous[j] + 1, previous[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }

  return previous[b.length]
}

function unknownKey(where: string | undefined, key: string, known: string[]): string {
  const closest = known.map((candidate) => ({candidate, distance: editDistance(canonicalKey(key), candidate)})).sort((a, b) => a.distance - b.distance)[0]
  const suggestion = closest && closest.distance <= 3 ? ` (did you mean "${closest.candidate}"?)` : ''
  return `${where ? `${where}: ` : ''}unknown key "${key}"${suggestion}`
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

async function parseYamlFile(path: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new InvalidInputError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {hint: 'Check the path given to --from-file.'})
  }

  const YAML = await import('yaml')
  const document = YAML.parseDocument(text)
  if (document.errors.length > 0) {
    const first = document.errors[0]
    const line = first.linePos?.[0]
    throw new InvalidInputError(`${path}${line ? `:${line.line}:${line.col}` : ''} is not valid YAML: ${first.message.split('\n')[0]}`, {
      hint: 'Fix the YAML syntax and re-run.',
    })
  }

  return document.toJS()
}

function readTableList(value: unknown, where: string, errors: string[]): Array<{input: TableInput; where: string}> {
  if (!Array.isArray(value)) {
    errors.push(`${where}: must be a list of tables`)
    return []
  }

  return value.flatMap((item, index) => {
    const itemWhere = `${where}[${index}]`
    if (!isRecord(item)) {
      errors.push(`${itemWhere}: must be a mapping such as {name: orders, source-type: keboola, bucket: in.c-crm, table: orders}`)
      return []
    }

    const input: TableInput = {}
    for (const [key, raw] of Object.entries(item)) {
      const field = TABLE_KEYS[canonicalKey(key)]
      if (!field) {
        errors.push(unknownKey(itemWhere, key, Object.keys(TABLE_KEYS)))
        continue
      }

      if (field === 'primaryKey' && Array.isArray(raw) && raw.every((column) => typeof column === 'string')) input.primaryKey = raw as string[]
      else if (typeof raw === 'string') input[field] = raw
      else errors.push(`${itemWhere}.${key}: must be a string${field === 'primaryKey' ? ' or a list of strings' : ''}`)
    }

    return [{input, where: itemWhere}]
  })
}

function throwIfErrors(path: string, errors: string[]): void {
  if (errors.length === 0) return
  throw new InvalidInputError(errors.length === 1 ? `${path}: ${errors[0]}` : `${path} has ${errors.length} problems:\n  - ${errors.join('\n  - ')}`, {
    details: {errors},
    hint: 'Nothing was sent to the instance. Fix the file and re-run; keys are the flag names (see --help).',
  })
}

/** Reads and validates setup.yaml; relative *-file paths are resolved against the file's directory. */
export async function readSetupFile(path: string): Promise<SetupFile> {
  const data = await parseYamlFile(path)
  if (data === undefined || data === null) return {}
  if (!isRecord(data)) throw new InvalidInputError(`${path}: the top level must be a mapping of settings (key: value)`)

  const errors: string[] = []
  const setup: SetupFile = {}
  const values = setup as Record<string, unknown>
  for (const [key, raw] of Object.entries(data)) {
    const canonical = canonicalKey(key)
    if (SECRET_KEYS[canonical]) {
      errors.push(`"${key}" would put a secret into the file; use ${SECRET_KEYS[canonical]} instead`)
      continue
    }

    const known = SETUP_KEYS[canonical]
    if (!known) {
      errors.push(unknownKey(undefined, key, Object.keys(SETUP_KEYS)))
      continue
    }

    const [field, kind] = known
    if (raw === null || raw === undefined) continue
    if (kind === 'tables') setup.tables = readTableList(raw, key, errors)
    else if (kind === 'boolean' && typeof raw !== 'boolean') errors.push(`${key}: must be true or false`)
    else if (kind === 'number' && (typeof raw !== 'number' || !Number.isFinite(raw) || raw < 0)) errors.push(`${key}: must be a number of seconds`)
    else if ((kind === 'string' || kind === 'path') && typeof raw !== 'string') errors.push(`${key}: must be a string`)
    else values[field] = kind === 'path' ? resolve(dirname(path), raw as string) : raw
  }

  throwIfErrors(path, errors)
  return setup
}

/** Reads tables.yaml: a list of tables, or a mapping with a `tables` list. */
export async function readTablesFile(path: string): Promise<Array<{input: TableInput; where: string}>> {
  const data = await parseYamlFile(path)
  const errors: string[] = []
  let tables: Array<{input: TableInput; where: string}> = []
  if (Array.isArray(data)) tables = readTableList(data, 'tables', errors)
  else if (isRecord(data)) {
    for (const key of Object.keys(data)) if (canonicalKey(key) !== 'tables') errors.push(unknownKey('top level', key, ['tables']))
    tables = readTableList(data.tables, 'tables', errors)
  } else errors.push('must be a list of tables, or a mapping with a "tables" list')

  if (errors.length === 0 && tables.length === 0) errors.push('holds no tables')
  throwIfErrors(path, errors)
  return tables
}
