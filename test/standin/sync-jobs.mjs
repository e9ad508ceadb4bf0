// The sync trigger, the sync lock and the `data-refresh` job queue (the Agnes server's; schemas in openapi-subset.json).
import {randomUUID} from 'node:crypto'
import {HttpError, reply} from './http-kit.mjs'
import {simulatedRowCount} from './admin.mjs'

const SYNC_IDEMPOTENCY_KEY = 'sync'
const KNOWN_SOURCES = ['keboola', 'bigquery', 'jira', 'local', 'databricks', 'snowflake']
const IN_FLIGHT = ['queued', 'running']
const LEASE_SECONDS = 300
const MAX_QUEUED_DELAY_MS = 500

function parseSyncTables(body) {
  if (body === undefined || body === null) return 'all'
  const list = Array.isArray(body) ? body : (body && typeof body === 'object' && Object.keys(body).length === 1 ? body.tables : undefined)
  if (Array.isArray(list) && list.every((item) => typeof item === 'string')) return list
  throw new HttpError(422, 'Body must be null, a JSON array of table ids, or {"tables": [...]}')
}

/** Creates the job runner and registers the sync and jobs endpoints; returns what the app needs to control it. */
export function registerSyncRoutes(router, context) {
  const {config, state, persist, log, schedule} = context
  const workerId = `standin-${process.pid}`
  let lastTriggerAt = 0
  let manualLock = false

  const now = () => new Date().toISOString()

  function enqueueDataRefresh(payload) {
    const job = {
      id: randomUUID(), kind: 'data-refresh', payload, status: 'queued', priority: 0, run_after: now(), attempts: 0,
      max_attempts: 3, lease_expires_at: null, leased_by: null, idempotency_key: SYNC_IDEMPOTENCY_KEY, error: null,
      created_at: now(), started_at: null, finished_at: null,
    }
    state.jobs.push(job)
    persist()
    return job
  }

  function markRunning(job) {
    Object.assign(job, {
      status: 'running', attempts: job.attempts + 1, started_at: now(), leased_by: workerId,
      lease_expires_at: new Date(Date.now() + LEASE_SECONDS * 1000).toISOString(),
    })
    persist()
  }

  function finishDataRefresh(job) {
    const wanted = job.payload.tables
    for (const table of state.tables) {
      const selected = wanted === 'all' ? (job.payload.source === 'all' || table.source_type === job.payload.source) : wanted.includes(table.id) || wanted.includes(table.name)
      if (!selected) continue
      Object.assign(table, {last_sync: now(), last_sync_status: 'ok', last_sync_error: null, rows: simulatedRowCount(table)})
    }
    Object.assign(job, {status: 'done', finished_at: now(), leased_by: null, lease_expires_at: null})
    persist()
    log.info(`Job ${job.id} (data-refresh) done`)
  }

  // queued → running (shortly) → done after STANDIN_SYNC_SECONDS.
  function runDataRefresh(job) {
    const totalMs = config.syncSeconds * 1000
    const queuedMs = Math.min(MAX_QUEUED_DELAY_MS, totalMs / 4)
    schedule(queuedMs, () => {
      markRunning(job)
      schedule(totalMs - queuedMs, () => finishDataRefresh(job))
    })
  }

  // The job held by POST /__standin/sync-lock {with_running_job: true} runs until the lock is released.
  function heldJob() {
    return state.jobs.find((job) => job.payload.held_by_standin && IN_FLIGHT.includes(job.status))
  }

  router.add('POST', '/api/sync/trigger', ({body, query, principal}) => {
    const tables = parseSyncTables(body)
    const source = query.source ?? 'all'
    if (source !== 'all' && !KNOWN_SOURCES.includes(source)) throw new HttpError(422, `Unknown source '${source}'. Known: ${KNOWN_SOURCES.join(', ')}`)
    const inFlight = state.jobs.find((job) => job.idempotency_key === SYNC_IDEMPOTENCY_KEY && IN_FLIGHT.includes(job.status))
    if (inFlight) {
      throw new HttpError(409, config.legacySync409 ? 'sync_already_in_progress' : {error: 'sync_already_in_progress', job_id: inFlight.id})
    }
    const job = enqueueDataRefresh({tables, source, requested_by: principal.user.email})
    lastTriggerAt = Date.now()
    runDataRefresh(job)
    log.info(`Sync triggered: job ${job.id}`)
    return reply(200, {status: 'triggered', tables, source, job_id: job.id, message: 'Sync enqueued as a data-refresh job'})
  }, {auth: 'admin'})

  router.add('GET', '/api/sync/status', () => {
    const running = state.jobs.some((job) => job.kind === 'data-refresh' && job.status === 'running' && job.leased_by === workerId)
    const inTriggerHold = Date.now() - lastTriggerAt < config.triggerHoldSeconds * 1000
    return reply(200, {locked: manualLock || running || inTriggerHold})
  })

  router.add('GET', '/api/jobs/{job_id}', ({params}) => {
    const job = state.jobs.find((candidate) => candidate.id === params.job_id)
    if (!job) throw new HttpError(404, 'job_not_found')
    return reply(200, {job})
  }, {auth: 'admin'})

  router.add('GET', '/api/jobs', ({query}) => {
    const jobs = state.jobs
      .filter((job) => (!query.kind || job.kind === query.kind) && (!query.status || job.status === query.status))
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
      .slice(0, query.limit)
    return reply(200, {jobs})
  }, {auth: 'admin'})

  router.add('POST', '/__standin/sync-lock', ({body}) => {
    if (typeof body?.locked !== 'boolean') throw new HttpError(422, 'Body must be {"locked": true|false, "with_running_job"?: true|false}')
    manualLock = body.locked
    const held = heldJob()
    if (manualLock && body.with_running_job && !held) {
      markRunning(enqueueDataRefresh({tables: 'all', source: 'all', requested_by: 'standin', held_by_standin: true}))
    } else if (!manualLock && held) {
      finishDataRefresh(held)
    }
    return reply(200, {locked: manualLock, running_job_id: heldJob()?.id ?? null})
  })

  // Jobs a previous process left in flight are picked up again, as a restarted worker would after lease expiry.
  for (const job of state.jobs.filter((candidate) => IN_FLIGHT.includes(candidate.status))) {
    Object.assign(job, {status: 'queued', leased_by: null, lease_expires_at: null})
    log.info(`Re-queued job ${job.id} (${job.kind}) left in flight by a previous process`)
    runDataRefresh(job)
  }
}
