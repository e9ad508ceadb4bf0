import type {InitResult} from './run.js'
import type {InitSettings, PlannedFile} from './types.js'

type Paint = (style: 'bold' | 'dim' | 'yellow', text: string) => string

function dataSourceLabel(settings: InitSettings): string {
  if (settings.keboolaUrl) return `${settings.dataSource} (${settings.keboolaUrl})`
  if (settings.bigqueryProject) return `${settings.dataSource} (${settings.bigqueryProject}, ${settings.bigqueryLocation})`
  return settings.dataSource
}

function networkLabel(settings: InitSettings): string {
  if (settings.tls !== 'none') return `${settings.tls} TLS for ${settings.domain} through Caddy; app port ${settings.httpPort} on 127.0.0.1 only`
  return settings.bind === '127.0.0.1' ? `plain HTTP on 127.0.0.1:${settings.httpPort} only, for your own proxy` : `plain HTTP on port ${settings.httpPort} of every interface (0.0.0.0)`
}

/** The wizard's summary of the answers, before the plan. */
export function summaryLines(settings: InitSettings, project: string): string[] {
  const rows: Array<[string, string | undefined]> = [
    ['Image', settings.repository],
    ['Version', settings.pin ? `pinned to ${settings.pin}` : `follow the ${settings.channel} channel`],
    ['HTTP port', String(settings.httpPort)],
    ['TLS', settings.tls === 'none' ? 'none' : `${settings.tls} for ${settings.domain}`],
    ['Network', networkLabel(settings)],
    ['Admin', settings.adminEmail],
    ['Data source', dataSourceLabel(settings)],
    ['Limits', `${settings.memory} memory, ${settings.cpus} CPUs`],
    ['Project', `${project} (Docker Compose; unique on this engine)`],
  ]
  return ['Summary:', ...rows.map(([label, value]) => `  ${label.padEnd(12)} ${value}`)]
}

export function planLines(files: Array<Pick<PlannedFile, 'path' | 'action' | 'diff' | 'note'>>): string[] {
  const symbols: Record<string, string> = {create: '+', keep: '=', unchanged: '=', update: '~'}
  const lines = ['Plan:']
  for (const file of files) {
    lines.push(`  ${symbols[file.action]} ${file.path} (${file.action}${file.note ? `: ${file.note}` : ''})`)
    if (file.diff) for (const line of file.diff.split('\n')) lines.push(`      ${line}`)
  }

  return lines
}

/** The human result of init on stdout. */
export function resultLines(result: InitResult, paint: Paint): string[] {
  const {settings} = result
  const changed = result.files.filter((file) => file.action === 'create' || file.action === 'update')
  const lines = [changed.length === 0 ? `Nothing to change in ${result.dir}.` : `${result.dryRun ? 'Would write' : 'Wrote'} ${changed.map((file) => file.path).join(', ')} in ${result.dir}.`]
  if (result.generatedSecrets.length > 0) lines.push(`Generated ${result.generatedSecrets.join(', ')} into .env (mode 0600; never printed).`)
  const version = settings.pin ? `pinned to ${settings.pin}` : `following the ${settings.channel} channel`
  lines.push(`Image ${settings.repository}, ${version}; Compose project ${result.project}.`)
  if (settings.tls === 'none' && settings.bind === '0.0.0.0') {
    lines.push(paint('yellow', `The app is published on port ${settings.httpPort} of every interface (0.0.0.0), over plain HTTP: anyone who reaches this host reaches it. Behind your own proxy, re-run with --bind 127.0.0.1; or use --tls.`))
  }

  if (!result.dryRun) {
    lines.push(`Agnes will answer at ${result.url} once started.`)
    lines.push(`Next: ${paint('bold', result.next)}`)
  }

  return lines
}
