import {deadline} from '../deadline.js'
import {DockerError, InterruptedError, UnhealthyError} from '../errors.js'
import {redact} from '../secrets/redact.js'
import {Reporter} from '../ui/reporter.js'

/** The body of GET /api/health. HTTP 200 alone proves nothing: read status and db_schema (docs/design.md#health-is-the-apps-own-word). */
export interface HealthBody {
  status?: string
  db_schema?: string
  vault_key_configured?: boolean
  current?: number | string
  expected?: number | string
  detail?: string
}

export interface VersionBody {
  version?: string
  channel?: string
  image_tag?: string
  deployed_at?: string
}

const SCHEMA_MISMATCH_GRACE_MS = 15_000

export function isHealthy(body: HealthBody | undefined): boolean {
  return body?.status === 'ok' && body.db_schema === 'ok'
}

export {UnhealthyError} from '../errors.js'

/**
 * The Docker engine, not the release, ended a gate: it stopped answering, or restarted and stopped or
 * restarted the app container. The release was not judged, so it is never rejected for this.
 */
export class EngineInterruptedError extends DockerError {
  constructor(message: string, lastHealth?: HealthBody) {
    super(message, {details: {lastHealth}, hint: 'The release was not judged; once the Docker engine is steady (`docker info`), the next run tries it again.'})
  }
}

async function getJson<T>(url: string, timeoutMs: number, signal?: AbortSignal): Promise<{status: number; body: T} | undefined> {
  const limit = deadline(timeoutMs, signal)
  try {
    const response = await fetch(url, {signal: limit.signal})
    const text = await response.text()
    return {body: JSON.parse(text) as T, status: response.status}
  } catch {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new InterruptedError()
    return undefined
  } finally {
    limit.clear()
  }
}

export async function fetchHealth(baseUrl: string, signal?: AbortSignal): Promise<HealthBody | undefined> {
  return (await getJson<HealthBody>(`${baseUrl}/api/health`, 3000, signal))?.body
}

export async function fetchVersion(baseUrl: string, signal?: AbortSignal): Promise<VersionBody | undefined> {
  const result = await getJson<VersionBody>(`${baseUrl}/api/version`, 3000, signal)
  return result?.status === 200 ? result.body : undefined
}

/** The schema version a health answer reports. */
export function schemaOf(health: HealthBody | undefined): number | string | undefined {
  return health?.current
}

/** The last health answer a failed gate saw. */
export function lastSeenHealth(error: unknown): HealthBody | undefined {
  if (error instanceof UnhealthyError || error instanceof EngineInterruptedError) return error.details?.lastHealth as HealthBody | undefined
  return undefined
}

/** What the gate learns about the app container on each poll; a fatal one ends the wait at once. */
export interface ContainerVerdict {
  fatal: boolean
  description: string
  logTail?: string
  /** The engine, not the release, ended the container (see appContainerWatcher in app-container.ts). */
  interrupted?: boolean
}

export interface HealthGateOptions {
  baseUrl: string
  timeoutMs: number
  intervalMs?: number
  signal?: AbortSignal
  reporter: Reporter
  /** How long a steady `db_schema: mismatch` is tolerated before the gate fails (default 15 s). */
  mismatchGraceMs?: number
  /** Checks the container: exited, restarting or restarted is fatal (no point waiting out the timeout). */
  checkContainer: () => Promise<ContainerVerdict>
}

export interface HealthGateResult {
  elapsedMs: number
  health: HealthBody
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason instanceof Error ? signal.reason : new InterruptedError())
    }

    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, {once: true})
  })
}

/**
 * Waits until the app says it is healthy (`status: ok` and `db_schema: ok`), failing at once when the
 * container exits or restarts, and after the timeout otherwise.
 */
export async function waitForHealthy(options: HealthGateOptions): Promise<HealthGateResult> {
  const started = Date.now()
  const interval = options.intervalMs ?? 500
  let lastBody: HealthBody | undefined
  let lastReport = 0
  let mismatchSince: number | undefined
  for (;;) {
    const verdict = await options.checkContainer()
    if (verdict.fatal && verdict.interrupted) throw new EngineInterruptedError(`the app container ${verdict.description}`, lastBody)
    if (verdict.fatal) {
      throw new UnhealthyError(`the app container ${verdict.description}${verdict.logTail ? `; its last log lines:\n${redact(verdict.logTail)}` : ''}`, {
        details: {container: verdict.description},
        hint: 'The release cannot start with this configuration; see the log lines above and `agnes logs app --tail 100`.',
      })
    }

    const body = await fetchHealth(options.baseUrl, options.signal)
    if (isHealthy(body)) return {elapsedMs: Date.now() - started, health: body as HealthBody}
    lastBody = body ?? lastBody
    const elapsed = Date.now() - started
    // A database schema ahead of the code does not heal by waiting (docs/design.md#health-is-the-apps-own-word): fail soon.
    mismatchSince = body?.db_schema === 'mismatch' ? (mismatchSince ?? Date.now()) : undefined
    if (mismatchSince !== undefined && Date.now() - mismatchSince >= (options.mismatchGraceMs ?? SCHEMA_MISMATCH_GRACE_MS)) {
      throw new UnhealthyError(`the app reports db_schema mismatch (database schema ${body?.current}, this version expects ${body?.expected})`, {
        details: {lastHealth: body},
        hint: 'The database schema is ahead of this version; restore the state backup taken before the newer version (agnes rollback does).',
      })
    }

    if (elapsed >= options.timeoutMs) {
      const seen = lastBody ? `status ${lastBody.status}, db_schema ${lastBody.db_schema}${lastBody.detail ? ` (${lastBody.detail})` : ''}` : 'no answer from /api/health'
      throw new UnhealthyError(`the app did not become healthy within ${Math.round(options.timeoutMs / 1000)} s (last seen: ${seen})`, {
        details: {lastHealth: lastBody},
        hint: 'Check `agnes logs app --tail 100`; a first boot can be slow, so a longer --health-timeout may help.',
      })
    }

    if (elapsed - lastReport >= 10_000) {
      lastReport = elapsed
      options.reporter.progress(`  waiting for health (${Math.round(elapsed / 1000)} s${body ? `, status ${body.status}, db_schema ${body.db_schema}` : ''})`)
    }

    await sleep(interval, options.signal)
  }
}
