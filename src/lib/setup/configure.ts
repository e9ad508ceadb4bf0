import {AgnesApi, ConfigureRequest, ConnectionChange, DiscoverResponse} from '../api/agnes-api.js'
import {AgnesError, ConflictError} from '../errors.js'
import {Instance} from '../instance/state.js'
import {Reporter, silentReporter} from '../ui/reporter.js'
import {AdminResult, ensureAdmin} from './admin.js'
import {configureFingerprint, lastAppliedFingerprint, recordApplied} from './applied-record.js'
import {ConfigureSettings} from './configure-settings.js'
import {SyncResult, triggerSync} from './sync.js'
import {TableResult, registerTables} from './tables.js'

export interface DataSourceResult {
  type: string
  /** configured: sent and different from what agnes last applied; unchanged: sent, same as last time. */
  status: 'configured' | 'unchanged' | 'would-configure'
  changed: boolean
  connection?: string
  /** The 409 connection change that was confirmed (or, in a dry run, nothing). */
  connectionChange?: ConnectionChange
  /** Dry run only: the body that would be sent, secrets masked. */
  request?: Record<string, unknown>
}

export interface DiscoveryResult {
  dryRun: boolean
  source: string
  registered: number
  skipped: number
  errors: number
  drifted: number
  tables: string[]
  wouldRegister?: string[]
  changed: boolean
}

export interface ConfigureResult {
  url: string
  dryRun: boolean
  /** Whether the admin, the data source or the table registry changed (a sync is an action, not a change). */
  changed: boolean
  admin: AdminResult | {status: 'skipped'; changed: false; reason: string}
  dataSource: DataSourceResult
  discovery?: DiscoveryResult
  tables?: TableResult[]
  sync?: SyncResult | {trigger: 'would-trigger'}
}

export interface ConfigureHooks {
  /** Asked when the instance answers the connection-change 409 and no confirmation was given up front. */
  confirmConnectionChange?: (change: ConnectionChange, description: string[]) => Promise<boolean>
  /** Shows a generated admin password once, as soon as the admin exists. */
  onPasswordGenerated?: (email: string, password: string, savedTo?: string) => void
  reporter?: Reporter
  signal?: AbortSignal
  instance?: Instance
}

function display(value: unknown): string {
  return value === null || value === undefined || value === '' ? '(none)' : String(value)
}

/** The 409 connection_change_affects_registrations as lines a person can read. */
export function describeConnectionChange(change: ConnectionChange): string[] {
  const sample = change.sampleTables.length > 0 ? ` (e.g. ${change.sampleTables.join(', ')}${change.affectedTables > change.sampleTables.length ? ', …' : ''})` : ''
  return [
    `This repoints the ${change.source} connection that ${change.affectedTables} registered table(s) read from${sample}:`,
    ...change.changes.map((item) => `  - ${item.field}: ${display(item.before)} → ${display(item.after)}`),
  ]
}

function masked(request: ConfigureRequest): Record<string, unknown> {
  return {...request, ...(request.keboola_token === undefined ? {} : {keboola_token: '***'})}
}

async function configureDataSource(api: AgnesApi, settings: ConfigureSettings, hooks: ConfigureHooks): Promise<DataSourceResult> {
  const reporter = hooks.reporter ?? silentReporter
  const request = settings.dataSource
  const type = request.data_source
  if (settings.dryRun) return {changed: false, request: masked(request), status: 'would-configure', type}

  const dotenvSource = hooks.instance?.env.get('DATA_SOURCE')
  if (dotenvSource !== undefined && dotenvSource !== type) {
    reporter.warn(`.env sets DATA_SOURCE=${dotenvSource}, which overrides the configured ${type} when the app restarts; run \`agnes init --data-source ${type}\` to align it.`)
  }

  reporter.progress(`Configuring the data source (${type})…`)
  let outcome = await api.configure(request)
  let connectionChange: ConnectionChange | undefined
  if (outcome.kind === 'connection-change') {
    connectionChange = outcome.change
    const description = describeConnectionChange(outcome.change)
    for (const line of description) reporter.progress(line)
    const confirmed = settings.confirmConnectionChange || ((await hooks.confirmConnectionChange?.(outcome.change, description)) ?? false)
    if (!confirmed) {
      throw new ConflictError(`${description.join('\n')}\nNothing was changed.`, {
        details: {connectionChange: outcome.change},
        hint: 'Re-run with --confirm-connection-change to repoint those tables, or keep the current connection settings.',
      })
    }

    outcome = await api.configure({...request, confirm_connection_change: true})
    if (outcome.kind === 'connection-change') throw new ConflictError('the instance still refuses the connection change after confirmation')
  }

  const fingerprint = configureFingerprint(request)
  const agnesDir = hooks.instance?.paths.agnesDir
  const previous = agnesDir ? await lastAppliedFingerprint(agnesDir, api.baseUrl) : undefined
  if (agnesDir) await recordApplied(agnesDir, api.baseUrl, fingerprint)
  const changed = connectionChange !== undefined || previous !== fingerprint
  return {
    changed,
    connection: outcome.body?.connection,
    ...(connectionChange ? {connectionChange} : {}),
    status: changed ? 'configured' : 'unchanged',
    type,
  }
}

function discoveryResult(response: DiscoverResponse, dryRun: boolean): DiscoveryResult {
  return {
    changed: !dryRun && response.registered > 0,
    drifted: response.drifted ?? 0,
    dryRun,
    errors: response.errors ?? 0,
    registered: response.registered ?? 0,
    skipped: response.skipped ?? 0,
    source: response.source,
    tables: response.tables ?? [],
    ...(dryRun ? {wouldRegister: response.would_register ?? []} : {}),
  }
}

/** Keeps what was already done in the error's JSON result, so an agent sees which steps to skip on a retry. */
function withPartialResult(error: unknown, result: ConfigureResult): unknown {
  if (!(error instanceof AgnesError)) return error
  const own = error.result !== null && typeof error.result === 'object' ? error.result : {}
  return new AgnesError(error.code, error.exitCode, error.message, {cause: error, details: error.details, hint: error.hint, result: {...result, ...own}})
}

/**
 * `agnes configure`: first admin, data source, discovery, tables, first sync, in that order, each step
 * only after the previous succeeded. Every step is idempotent, so the same input run twice succeeds twice
 * and reports `changed: false` the second time. A dry run sends nothing that changes the instance.
 */
export async function runConfigure(api: AgnesApi, settings: ConfigureSettings, hooks: ConfigureHooks = {}): Promise<ConfigureResult> {
  const reporter = hooks.reporter ?? silentReporter
  const admin = settings.admin
    ? await ensureAdmin(api, settings.admin, {
        dryRun: settings.dryRun,
        onPasswordGenerated: hooks.onPasswordGenerated,
        reporter,
        revealPassword: settings.revealPassword,
        secretsFile: settings.secretsFile,
      })
    : {changed: false as const, reason: settings.adminSkipped ?? 'no admin email given', status: 'skipped' as const}
  if (!settings.admin) reporter.warn(`No admin was created: ${admin.status === 'skipped' ? admin.reason : ''}.`)

  const result: ConfigureResult = {admin, changed: false, dataSource: {changed: false, status: 'would-configure', type: settings.dataSource.data_source}, dryRun: settings.dryRun, url: api.baseUrl}
  try {
    result.dataSource = await configureDataSource(api, settings, hooks)
    if (settings.discover) {
      reporter.progress(settings.dryRun ? 'Asking what discovery would register…' : 'Discovering and registering tables…')
      const response = await api.discoverAndRegister({dryRun: settings.dryRun})
      result.discovery = discoveryResult(response, settings.dryRun)
      if (response.source !== 'keboola') reporter.warn(`Discovery supports Keboola only; the instance's data source is ${response.source}, so nothing was discovered.`)
      if (settings.dryRun && response.source !== settings.dataSource.data_source) {
        reporter.warn(`The dry run asked the instance as it is configured now (${response.source}), not as this run would configure it.`)
      }
    }

    if (settings.tables.length > 0) {
      if (settings.dryRun) {
        const existing = new Set((await api.registry()).map((row) => row.id))
        result.tables = settings.tables.map((table) => ({changed: false, id: table.id, name: table.request.name, status: existing.has(table.id) ? 'exists' : 'would-register'}))
      } else {
        reporter.progress(`Registering ${settings.tables.length} table(s)…`)
        result.tables = await registerTables(api, settings.tables, {ifNotExists: true, reporter})
      }
    }

    if (settings.sync) {
      result.sync = settings.dryRun
        ? {trigger: 'would-trigger'}
        : await triggerSync(api, {reporter, signal: hooks.signal, wait: settings.wait, waitTimeoutMs: settings.waitTimeoutMs})
    }
  } catch (error) {
    throw withPartialResult(error, result)
  }

  result.changed = admin.changed || result.dataSource.changed || Boolean(result.discovery?.changed) || Boolean(result.tables?.some((table) => table.changed))
  return result
}
