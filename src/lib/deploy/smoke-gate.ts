import {connectToInstance} from '../api/connect.js'
import {Reporter} from '../ui/reporter.js'
import {runSmoke} from '../smoke.js'
import {SmokeGate} from './outcome.js'

/**
 * The smoke test as an upgrade gate: no minimum table count (a fresh instance has none) and no sync trigger
 * (a full data refresh on every cron upgrade would be costly); health, auth, catalog, SELECT 1, settle,
 * health again.
 */
export function smokeGate(options: {settleMs: number; reporter: Reporter; signal?: AbortSignal}): SmokeGate {
  return async (ctx) => {
    const connection = await connectToInstance({dir: ctx.instance.paths.dir, reporter: options.reporter, signal: options.signal})
    try {
      const report = await runSmoke(connection.api, {minTables: 0, reporter: options.reporter, settleMs: options.settleMs, signal: options.signal, triggerSync: false})
      const failed = report.steps.find((step) => step.status === 'failed')
      return {detail: failed?.detail, failedStep: failed?.name, passed: report.passed}
    } finally {
      await connection.close()
    }
  }
}
