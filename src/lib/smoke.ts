import {AgnesApi} from './api/agnes-api.js'
import {abortableSleep} from './api/client.js'
import {httpStatus} from './api/errors.js'
import {AgnesError, AuthError, ExitCode, SmokeCheckError, SmokeFailedError, UnreachableError, toAgnesError} from './errors.js'
import {isHealthy} from './deploy/health.js'
import {Reporter, silentReporter} from './ui/reporter.js'

export type SmokeStepName = 'health' | 'auth' | 'catalog' | 'query' | 'sync' | 'settle' | 'health-after'

export interface SmokeStep {
  name: SmokeStepName
  /** False only for a step that ran and failed. */
  ok: boolean
  status: 'passed' | 'failed' | 'skipped'
  durationMs: number
  detail: string
  error?: {code: string; message: string; hint?: string}
}

/** Why a smoke test failed, in the order that decides the exit code: unreachable (8), auth (5), check (3). */
export type SmokeFailure = 'unreachable' | 'auth' | 'check'

export interface SmokeReport {
  passed: boolean
  url: string
  startedAt: string
  durationMs: number
  steps: SmokeStep[]
  failedSteps: SmokeStepName[]
  failure?: SmokeFailure
  version?: string
  channel?: string
}

export interface SmokeOptions {
  /**
   * Catalog tables needed to pass; 0 accepts an instance without tables (e.g. an upgrade gate). Default: 1
   * once the instance has registered tables, 0 while its registry is empty (a fresh instance).
   */
  minTables?: number
  /** The wait before the final health check (default 30 s); 0 skips it. */
  settleMs?: number
  /** Trigger a sync as one of the checks (default true); an in-flight sync passes. */
  triggerSync?: boolean
  signal?: AbortSignal
  reporter?: Reporter
}

export const SMOKE_DEFAULTS = {settleMs: 30_000, triggerSync: true}
const SMOKE_QUERY = 'SELECT 1 AS smoke'

function classify(error: unknown): SmokeFailure {
  if (error instanceof SmokeCheckError) return 'check'
  const status = httpStatus(error)
  if (status === 401 || status === 403) return 'auth'
  // No HTTP answer at all, or a proxy saying the app is not there: the instance is unreachable.
  if (error instanceof UnreachableError && (status === undefined || status === 502 || status === 503 || status === 504)) return 'unreachable'
  if (error instanceof AgnesError && error.exitCode === ExitCode.INTERRUPTED) throw error
  return 'check'
}

function errorServices(services: Record<string, {status?: string}> | undefined): Set<string> {
  return new Set(Object.entries(services ?? {}).flatMap(([name, check]) => (check?.status === 'error' ? [name] : [])))
}

/**
 * The post-deploy smoke test (after the real Agnes smoke script): health (status and db_schema), an
 * authenticated call, catalog tables ≥ minTables, SELECT 1 returns rows, a sync trigger (an in-flight sync
 * passes), a settle wait, then health again with no new errors (no service newly in error, the triggered
 * sync job not failed). Never throws for a failed check: the report says what failed and why.
 */
export async function runSmoke(api: AgnesApi, options: SmokeOptions = {}): Promise<SmokeReport> {
  const reporter = options.reporter ?? silentReporter
  const settleMs = options.settleMs ?? SMOKE_DEFAULTS.settleMs
  const started = Date.now()
  const steps: SmokeStep[] = []
  const failures: SmokeFailure[] = []
  const report: SmokeReport = {durationMs: 0, failedSteps: [], passed: false, startedAt: new Date(started).toISOString(), steps, url: api.baseUrl}
  let servicesInError = new Set<string>()
  let syncJobId: string | undefined

  const skip = (name: SmokeStepName, detail: string) => {
    steps.push({detail, durationMs: 0, name, ok: true, status: 'skipped'})
    reporter.progress(`  - ${name}: skipped (${detail})`)
  }

  const step = async (name: SmokeStepName, check: () => Promise<string>): Promise<boolean> => {
    const stepStarted = Date.now()
    try {
      const detail = await check()
      steps.push({detail, durationMs: Date.now() - stepStarted, name, ok: true, status: 'passed'})
      reporter.progress(`  ✓ ${name} (${Date.now() - stepStarted} ms): ${detail}`)
      return true
    } catch (error) {
      const failure = classify(error)
      const agnesError = toAgnesError(error)
      const message = error instanceof Error ? error.message : String(error)
      failures.push(failure)
      steps.push({
        detail: message,
        durationMs: Date.now() - stepStarted,
        error: {code: agnesError.code, message, ...(agnesError.hint ? {hint: agnesError.hint} : {})},
        name,
        ok: false,
        status: 'failed',
      })
      reporter.progress(`  ✗ ${name} (${Date.now() - stepStarted} ms): ${message}`)
      return false
    }
  }

  const healthCheck = async () => {
    const health = await api.health()
    const schema = health.current === undefined ? '' : `, schema ${health.current}${health.expected !== undefined && health.expected !== health.current ? ` (expected ${health.expected})` : ''}`
    const detail = `status ${health.status}, db_schema ${health.db_schema}${schema}${health.detail ? `: ${health.detail}` : ''}`
    if (!isHealthy(health)) throw new SmokeCheckError(detail)
    return detail
  }

  const reachable = await step('health', healthCheck)
  if (!reachable && failures.includes('unreachable')) {
    for (const name of ['auth', 'catalog', 'query', 'sync', 'settle', 'health-after'] as const) skip(name, 'the instance is unreachable')
    return finish(report, failures, started)
  }

  const authenticated = await step('auth', async () => {
    const detailed = await api.healthDetailed()
    if (typeof detailed.version !== 'string') throw new SmokeCheckError('GET /api/health/detailed gave no version')
    report.version = detailed.version
    report.channel = detailed.channel
    servicesInError = errorServices(detailed.services)
    return `version ${detailed.version}${detailed.channel ? ` (${detailed.channel})` : ''}, caller ${detailed.caller_role ?? 'unknown'}, overall ${detailed.status ?? 'unknown'}`
  })

  if (!authenticated && failures.includes('auth')) {
    for (const name of ['catalog', 'query', 'sync', 'settle', 'health-after'] as const) skip(name, 'not authenticated')
    return finish(report, failures, started)
  }

  await step('catalog', async () => {
    const needed = options.minTables === undefined ? await tablesExpected(api) : {minTables: options.minTables, why: ''}
    const {count} = await api.catalogTables()
    const why = needed.why ? `${needed.minTables > 0 ? ': ' : '; '}${needed.why}` : ''
    const detail = needed.minTables > 0 ? `${count} table(s) (need at least ${needed.minTables}${why})` : `${count} table(s)${why}`
    if (count < needed.minTables) throw new SmokeCheckError(`${detail}; register tables (agnes register-table or configure --discover) or lower --min-tables`)
    return detail
  })

  await step('query', async () => {
    const answer = await api.query(SMOKE_QUERY, 1)
    if (answer.rows.length === 0) throw new SmokeCheckError(`${SMOKE_QUERY} returned no rows`)
    return `${SMOKE_QUERY} returned ${answer.rows.length} row(s)`
  })

  if (options.triggerSync ?? SMOKE_DEFAULTS.triggerSync) {
    await step('sync', async () => {
      const outcome = await api.syncTrigger()
      syncJobId = outcome.jobId
      return outcome.kind === 'triggered' ? `triggered${outcome.jobId ? ` (job ${outcome.jobId})` : ''}` : 'a sync was already running'
    })
  } else skip('sync', 'not requested')

  if (failures.length > 0) {
    skip('settle', 'an earlier step failed')
    skip('health-after', 'an earlier step failed')
    return finish(report, failures, started)
  }

  if (settleMs > 0) {
    await step('settle', async () => {
      reporter.progress(`  … settling for ${Math.round(settleMs / 1000)} s`)
      await abortableSleep(settleMs, options.signal)
      return `waited ${Math.round(settleMs / 1000)} s`
    })
  } else skip('settle', 'settle time 0')

  await step('health-after', async () => {
    const detail = await healthCheck()
    const newErrors = [...errorServices((await api.healthDetailed()).services)].filter((name) => !servicesInError.has(name))
    if (newErrors.length > 0) throw new SmokeCheckError(`service(s) newly in error: ${newErrors.join(', ')}`)
    if (syncJobId !== undefined) {
      const job = await api.getJob(syncJobId)
      if (job.status === 'failed') throw new SmokeCheckError(`the sync job ${syncJobId} failed: ${job.error ?? 'no error message'}`)
      return `${detail}; no new errors; sync ${job.status}`
    }

    return `${detail}; no new errors`
  })

  return finish(report, failures, started)
}

/**
 * The default table requirement: an instance that has registered tables must list at least one in its
 * catalog; a fresh one, with an empty registry, has none to list yet. A token that may not read the
 * registry (not an admin) keeps the strict requirement.
 */
async function tablesExpected(api: AgnesApi): Promise<{minTables: number; why: string}> {
  try {
    const registered = (await api.registry()).length
    return registered === 0
      ? {minTables: 0, why: 'none registered yet (a fresh instance): register tables with agnes register-table or configure --discover'}
      : {minTables: 1, why: `${registered} registered`}
  } catch (error) {
    const status = httpStatus(error)
    if (status === 403 || status === 404) return {minTables: 1, why: `the registry could not be read with this token (HTTP ${status})`}
    throw error
  }
}

function finish(report: SmokeReport, failures: SmokeFailure[], started: number): SmokeReport {
  report.durationMs = Date.now() - started
  report.failedSteps = report.steps.filter((step) => step.status === 'failed').map((step) => step.name)
  report.passed = report.failedSteps.length === 0
  if (!report.passed) report.failure = failures.includes('unreachable') ? 'unreachable' : failures.includes('auth') ? 'auth' : 'check'
  return report
}

/**
 * The error a failed report maps to: unreachable → exit 8 (retryable), auth → 5 (fix the credential),
 * any other failed check → 3 (the instance answers but is not working; retrying will not help). Undefined
 * when the report passed. The report rides along as the JSON result.
 */
export function smokeFailureError(report: SmokeReport): AgnesError | undefined {
  if (report.passed) return undefined
  const failedSteps = report.steps.filter((step) => step.status === 'failed')
  const message = `smoke test failed: ${failedSteps.map((step) => `${step.name} (${step.detail})`).join('; ')}`
  const clientHint = failedSteps.find((step) => step.error?.hint)?.error?.hint
  if (report.failure === 'unreachable') return new UnreachableError(message, {hint: clientHint ?? 'Check that the instance runs (`agnes status`); retry when it answers.', result: report})
  if (report.failure === 'auth') return new AuthError(message, {hint: clientHint ?? 'The API token was rejected: check AGNES_TOKEN / --token-file.', result: report})
  return new SmokeFailedError(message, {
    hint: `The instance answers, but ${report.failedSteps.join(', ')} failed: fix the cause named above (the app log helps: \`agnes logs app --tail 100\`). Retrying unchanged will not help.`,
    result: report,
  })
}
