import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {connectionFlags, connectionOptions} from '../flags/connection.js'
import type {SmokeReport} from '../lib/smoke.js'

export default class Smoke extends AgnesCommand<typeof Smoke> {
  static description = `Post-deploy smoke test of an instance: proves it answers, authenticates, has tables, queries and syncs.

Steps, each reported with its timing:
  health        GET /api/health: status ok and db_schema ok (HTTP 200 alone proves nothing)
  auth          GET /api/health/detailed with the token (also gives version and channel)
  catalog       GET /api/catalog/tables: at least --min-tables tables (default: 1 once the instance has registered tables, 0 while GET /api/admin/registry is empty, as on a fresh instance)
  query         POST /api/query SELECT 1 returns rows
  sync          POST /api/sync/trigger (a sync already running passes; --no-sync skips it)
  settle        wait --settle seconds
  health-after  health again, no service newly in error, the triggered sync job not failed

Exit codes, so cron and agents can tell what to do next:
  0  every step passed
  8  the instance is unreachable (no answer, or a proxy's 502/503/504): retryable, try again later
  5  the token was rejected: fix AGNES_TOKEN / --token-file (or the instance SCHEDULER_API_TOKEN)
  3  the instance answers but a check failed (unhealthy, query error, too few tables, sync failed): a real defect of this deployment; retrying will not help, roll back or fix it

--json prints the full report (in "result" on success, and in the error envelope's "result" on failure).`

  static examples = [
    '<%= config.bin %> smoke --dir /opt/agnes',
    '<%= config.bin %> smoke --dir /opt/agnes --json --settle 0',
    'AGNES_TOKEN=… <%= config.bin %> smoke --url https://agnes.example.com --min-tables 0 --no-sync',
  ]

  static flags = {
    'min-tables': Flags.integer({description: 'Catalog tables needed to pass (0: any number; default 1 once tables are registered, 0 before).', env: 'AGNES_SMOKE_MIN_TABLES', min: 0}),
    settle: Flags.integer({default: 30, description: 'Seconds to wait before the final health check (0: none).', env: 'AGNES_SMOKE_SETTLE', min: 0}),
    sync: Flags.boolean({allowNo: true, default: true, description: 'Trigger a sync as one of the checks (--no-sync skips it).', env: 'AGNES_SMOKE_SYNC'}),
    ...connectionFlags(10),
  }

  protected async execute(): Promise<SmokeReport> {
    const {flags} = this
    const [{connectToInstance}, {runSmoke, smokeFailureError}] = await Promise.all([import('../lib/api/connect.js'), import('../lib/smoke.js')])
    const connection = await connectToInstance({dir: this.instanceDir, prompter: this.prompter, reporter: this.reporter, signal: this.signal, ...connectionOptions(flags)})
    let report: SmokeReport
    try {
      this.reporter.progress(`Smoke test of ${connection.baseUrl}`)
      report = await runSmoke(connection.api, {
        minTables: flags['min-tables'],
        reporter: this.reporter,
        settleMs: flags.settle * 1000,
        signal: this.signal,
        triggerSync: flags.sync,
      })
    } finally {
      await connection.close()
    }

    const failure = smokeFailureError(report)
    if (failure) {
      if (!this.jsonEnabled()) this.render(report)
      throw failure
    }

    return report
  }

  protected render(report: SmokeReport): void {
    for (const step of report.steps) {
      const mark = step.status === 'passed' ? this.paint('green', 'pass') : step.status === 'failed' ? this.paint('red', 'FAIL') : this.paint('dim', 'skip')
      this.out(`${mark}  ${step.name.padEnd(12)} ${String(step.durationMs).padStart(6)} ms  ${step.detail}`)
    }

    const version = report.version ? ` (Agnes ${report.version}${report.channel ? `, ${report.channel}` : ''})` : ''
    this.out(report.passed ? `Smoke test passed${version} in ${(report.durationMs / 1000).toFixed(1)} s.` : `Smoke test FAILED: ${report.failedSteps.join(', ')}.`)
  }
}
