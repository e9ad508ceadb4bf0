import {WaitTimeoutError} from '../errors.js'
import {Reporter, silentReporter} from '../ui/reporter.js'
import {AgnesApi, Job} from './agnes-api.js'
import {abortableSleep} from './client.js'

export interface WaitForJobOptions {
  timeoutMs: number
  pollIntervalMs?: number
  /** How often "still running" is repeated while nothing changes. */
  progressEveryMs?: number
  signal?: AbortSignal
  reporter?: Reporter
  /** Label in progress lines, e.g. "sync". */
  label?: string
}

function seconds(ms: number): string {
  const total = Math.round(ms / 1000)
  return total < 60 ? `${total} s` : `${Math.floor(total / 60)} min ${total % 60} s`
}

function isFinished(job: Job): boolean {
  return job.status === 'done' || job.status === 'failed'
}

/**
 * Follows GET /api/jobs/{id} until the job is done or failed, reporting each status change. Returns the
 * final job (a failed job is returned, not thrown: the caller decides what failure means). Waiting longer
 * than timeoutMs ends with exit 75: the job keeps running on the instance.
 */
export async function waitForJob(api: AgnesApi, jobId: string, options: WaitForJobOptions): Promise<Job> {
  const reporter = options.reporter ?? silentReporter
  const label = options.label ?? 'job'
  const started = Date.now()
  const pollInterval = options.pollIntervalMs ?? 2000
  const progressEvery = options.progressEveryMs ?? 15_000
  let lastStatus: string | undefined
  let lastReport = started
  for (;;) {
    const job = await api.getJob(jobId)
    const elapsed = Date.now() - started
    if (job.status !== lastStatus) {
      lastStatus = job.status
      lastReport = Date.now()
      reporter.progress(`  ${label} ${job.status} (${seconds(elapsed)})`)
    } else if (Date.now() - lastReport >= progressEvery) {
      lastReport = Date.now()
      reporter.progress(`  ${label} still ${job.status} (${seconds(elapsed)})`)
    }

    if (isFinished(job)) return job
    if (elapsed >= options.timeoutMs) {
      throw new WaitTimeoutError(`the ${label} (job ${jobId}) is still ${job.status} after ${seconds(elapsed)}`, {
        details: {jobId, status: job.status},
        hint: `It keeps running on the instance. Follow it with \`GET /api/jobs/${jobId}\`, or wait longer with --wait-timeout.`,
      })
    }

    await abortableSleep(pollInterval, options.signal)
  }
}

/**
 * The job an already-running sync belongs to, for the pre-0.75 409 that names none: the newest running
 * (else queued) data-refresh job.
 */
export async function findRunningSyncJob(api: AgnesApi): Promise<Job | undefined> {
  for (const status of ['running', 'queued']) {
    const jobs = await api.listJobs({kind: 'data-refresh', limit: 5, status})
    if (jobs.length > 0) return jobs[0]
  }

  return undefined
}
