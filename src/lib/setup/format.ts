import type {ConfigureResult} from './configure.js'

type Paint = (style: 'dim', text: string) => string

function adminLine(admin: ConfigureResult['admin']): string {
  if (admin.status === 'skipped') return `skipped (${admin.reason})`
  const message = admin.message && admin.status !== 'created' ? ` (${admin.message})` : ''
  return `${admin.email}: ${admin.status}${message}`
}

function discoveryLine(discovery: NonNullable<ConfigureResult['discovery']>): string {
  if (!discovery.dryRun) return `registered ${discovery.registered}, already there ${discovery.skipped}, errors ${discovery.errors}, drifted ${discovery.drifted}`
  const names = discovery.wouldRegister ?? []
  return `would register ${names.length}${names.length > 0 ? `: ${names.join(', ')}` : ''} (${discovery.skipped} already registered)`
}

function syncLine(sync: NonNullable<ConfigureResult['sync']>): string {
  if (sync.trigger === 'would-trigger') return 'would be triggered'
  const job = 'jobId' in sync && sync.jobId ? ` (job ${sync.jobId})` : ''
  if (!('outcome' in sync) || !sync.outcome) return `${sync.trigger}${job}`
  const after = sync.durationMs === undefined ? '' : ` after ${Math.round(sync.durationMs / 1000)} s`
  return `${sync.trigger}${job}: ${sync.outcome}${after}`
}

function changedLine(result: ConfigureResult): string {
  if (result.dryRun) return 'Nothing was changed (dry run).'
  return result.changed ? 'Changed: yes.' : 'Changed: nothing (already configured this way).'
}

/** The human result of configure on stdout. */
export function configureResultLines(result: ConfigureResult, paint: Paint): string[] {
  const rows: Array<[string, string]> = []
  const {admin, dataSource} = result
  rows.push(['admin', adminLine(admin)])
  if (admin.status !== 'skipped' && admin.passwordSavedTo) rows.push(['', `its generated password is AGNES_ADMIN_PASSWORD in ${admin.passwordSavedTo} (mode 0600)`])
  rows.push(['data source', `${dataSource.type}: ${dataSource.status}${dataSource.connection ? ` (connection ${dataSource.connection})` : ''}`])
  if (dataSource.request) rows.push(['', `would send ${JSON.stringify(dataSource.request)}`])
  if (result.discovery) rows.push(['discovery', discoveryLine(result.discovery)])
  for (const table of result.tables ?? []) rows.push(['table', `${table.id}: ${table.status}${table.httpStatus ? ` (HTTP ${table.httpStatus})` : ''}`])
  if (result.sync) rows.push(['sync', syncLine(result.sync)])

  const lines = [`${result.dryRun ? 'Dry run against' : 'Agnes at'} ${result.url}`, ...rows.map(([label, value]) => `  ${label.padEnd(12)} ${value}`), changedLine(result)]
  if (!result.dryRun) lines.push(paint('dim', `Next: agnes smoke${result.url.startsWith('http://127.0.0.1') ? '' : ` --url ${result.url}`}`))
  return lines
}
