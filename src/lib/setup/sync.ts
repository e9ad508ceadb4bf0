import {AgnesApi} from '../api/agnes-api.js'
import {abortableSleep} from '../api/client.js'
import {findRunningSyncJob, waitForJob} from '../api/jobs.js'
import {SyncFailedError, WaitTimeoutError} from '../errors.js'
import {Reporter, silentReporter} from '../ui/reporter.js'

export interface SyncResult {
  /** triggered: a new job; already-running: another sync was in flight (not a failure). */
  trigger: 'triggered' | 'already-running'
  jobId?: string
  /** With wait: how the job ended; unknown when an old instance named no job and the lock was watched instead. */
  outcome?: 'done' | 'failed' | 'unknown'
  error?: string
  durationMs?: number
}

export interface SyncOptions {
  wait: boolean
  waitTimeoutMs: number
  pollIntervalMs?: number
  signal?: AbortSignal
  reporter?: Reporter
}

async function waitForUnlock(api: AgnesApi, options: SyncOptions): Promise<void> {
  const started = Date.now()
  while ((await api.syncStatus()).locked) {
    if (Date.now() - started >= options.waitTimeoutMs) {
      throw new WaitTimeoutError(`the sync is still running after ${Math.round(options.waitTimeoutMs / 1000)} s`, {
        hint: 'It keeps running on the instance; wait longer with --wait-timeout.',
      })
    }

    await abortableSleep(options.pollIntervalMs ?? 2000, options.signal)
  }
}

/**
 * Triggers a sync of every registered table. A sync already in flight (409, either the pre-0.75 string
 * detail or the object with job_id) counts as started. With wait, follows the job until done or failed;
 * a failed job throws SyncFailedError with the result attached.
 */
export async function triggerSync(api: AgnesApi, options: SyncOptions): Promise<SyncResult> {
  const reporter = options.reporter ?? silentReporter
  reporter.progress('Triggering a sync…')
  const outcome = await api.syncTrigger()
  let jobId = outcome.jobId
  if (outcome.kind === 'already-running') {
    reporter.progress('  a sync is already running; following it instead')
    if (jobId === undefined && options.wait) jobId = (await findRunningSyncJob(api))?.id
  }

  const result: SyncResult = {jobId, trigger: outcome.kind}
  if (!options.wait) return result

  const started = Date.now()
  if (jobId === undefined) {
    await waitForUnlock(api, options)
    return {...result, durationMs: Date.now() - started, outcome: 'unknown'}
  }

  const job = await waitForJob(api, jobId, {
    label: 'sync',
    pollIntervalMs: options.pollIntervalMs,
    reporter,
    signal: options.signal,
    timeoutMs: options.waitTimeoutMs,
  })
  const finished: SyncResult = {...result, durationMs: Date.now() - started, outcome: job.status === 'done' ? 'done' : 'failed'}
  if (job.status === 'failed') {
    finished.error = typeof job.error === 'string' ? job.error : 'no error message'
    throw new SyncFailedError(`the sync (job ${jobId}) failed: ${finished.error}`, {details: {jobId}, result: {sync: finished}})
  }

  return finished
}
