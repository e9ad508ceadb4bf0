import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import type {HistoryEntry} from '../lib/deploy/history.js'

interface HistoryResult {
  entries: HistoryEntry[]
}

export default class History extends AgnesCommand<typeof History> {
  static description = 'List deployments: time, from → to (version and digest), outcome, duration, reason.'

  static examples = ['<%= config.bin %> history', '<%= config.bin %> history --limit 5 --json']

  static flags = {
    limit: Flags.integer({default: 20, description: 'Show the newest N entries (0: all).', min: 0}),
  }

  protected async execute(): Promise<HistoryResult> {
    const {readHistoryReport} = await import('../lib/deploy/history.js')
    const {loadInstance} = await import('../lib/instance/state.js')
    const {paths} = await loadInstance(this.instanceDir)
    const read = await readHistoryReport(paths)
    if (read.skippedLines.length > 0) {
      const lines = read.skippedLines.slice(0, 5).join(', ') + (read.skippedLines.length > 5 ? ', …' : '')
      this.reporter.warn(`skipped ${read.skippedLines.length} malformed line(s) of ${paths.historyFile} (line ${lines}); the other entries are shown.`)
    }

    const entries = read.entries.reverse()
    return {entries: this.flags.limit === 0 ? entries : entries.slice(0, this.flags.limit)}
  }

  protected render(result: HistoryResult): void {
    if (result.entries.length === 0) {
      this.out('No deployments recorded yet.')
      return
    }

    const name = (ref?: {version?: string; tag?: string; digest?: string}) => (ref ? `${ref.version ?? ref.tag ?? '?'} ${ref.digest ? ref.digest.slice(7, 19) : ''}`.trim() : '—')
    for (const entry of result.entries) {
      const duration = `${(entry.durationMs / 1000).toFixed(1)} s`
      this.out(`${entry.time}  ${entry.action.padEnd(8)} ${name(entry.from)} → ${name(entry.to)}  ${entry.outcome}  ${duration}${entry.reason ? `  (${entry.reason})` : ''}`)
    }
  }
}
