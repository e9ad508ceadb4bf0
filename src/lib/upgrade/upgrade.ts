import {deadline} from '../deadline.js'
import {DeployContext, appContainerWatcher, openDeployContext, recordDeployment} from '../deploy.js'
import {runningAppDigest} from '../docker/socket.js'
import {RollbackFailedError, RolledBackError, TryLaterError} from '../errors.js'
import {waitForHealthy} from '../health.js'
import {appendHistory} from '../history.js'
import {Instance, loadInstance, localBaseUrl, writeState} from '../instance/state.js'
import {createRegistryClient} from '../registry.js'
import {Reporter} from '../reporter.js'
import {withInstanceLock} from '../instance-lock.js'
import {Channel} from '../versions.js'
import {Journal, JournalDeployment, clearJournal, readJournal} from './journal.js'
import {SmokeFailedError, SmokeGate, SwitchOptions, SwitchOutcome, describe, rollBack, shortReason, switchVersion} from './switch.js'

export type UpgradeOutcome = 'up-to-date' | 'upgraded' | 'pinned' | 'deferred' | 'locked' | 'rolled-back' | 'failed' | 'upgrade-available'

export interface UpgradeResult {
  outcome: UpgradeOutcome
  channel: Channel
  pin?: string
  check: boolean
  from?: JournalDeployment
  to?: JournalDeployment
  durationMs: number
  reason?: string
  recovered?: {outcome: string; reason?: string}
  deferredSince?: string
  registryRequests?: number
  alert?: {delivered: boolean; error?: string}
  message: string
}

export interface CommonSwitchOptions {
  healthTimeoutMs: number
  smoke?: SmokeGate
  alertWebhook?: string
}

export interface UpgradeOptions extends CommonSwitchOptions {
  dir: string
  reporter: Reporter
  signal?: AbortSignal
  /** Follow this channel from now on (a channel change is an upgrade like any other). */
  channel?: Channel
  force: boolean
  check: boolean
  maxDeferMs: number
}

/**
 * Finishes what a killed run left in the journal: if the new version is running and healthy (and passes
 * smoke), it is confirmed; otherwise the instance goes back to the version it came from.
 */
export async function recoverFromJournal(ctx: DeployContext, journal: Journal, options: CommonSwitchOptions): Promise<{outcome: string; reason?: string}> {
  const started = Date.now()
  ctx.reporter.warn(`found the journal of an interrupted ${journal.action} (${describe(journal.from)} → ${describe(journal.to)}, ${journal.phase}); finishing it first.`)
  const switchOptions: SwitchOptions = {action: journal.action, alertWebhook: options.alertWebhook, allowPull: false, healthTimeoutMs: options.healthTimeoutMs, smoke: options.smoke}
  let reason = journal.reason
  let reject = journal.phase !== 'stopping' && journal.phase !== 'switching'
  const running = await runningAppDigest(ctx.instance.state.project, journal.to.repository).catch(() => ({digest: undefined, running: false}))
  if (journal.phase === 'switching' && running.digest === journal.to.digest) {
    // The new version was started: give it the gates the killed run could not finish.
    try {
      await waitForHealthy({baseUrl: ctx.baseUrl, checkContainer: appContainerWatcher(ctx), reporter: ctx.reporter, signal: ctx.signal, timeoutMs: options.healthTimeoutMs})
      const smoke = options.smoke ? await options.smoke(ctx) : {passed: true}
      if (!smoke.passed) throw new SmokeFailedError(smoke)
      const record = await recordDeployment(ctx, {digest: journal.to.digest, repository: journal.to.repository, tag: journal.to.tag})
      await clearJournal(ctx.instance.paths)
      await appendHistory(ctx.instance.paths, {action: 'recover', durationMs: Date.now() - started, from: journal.from, outcome: 'upgraded', reason: 'confirmed after an interrupted run', time: new Date().toISOString(), to: {...journal.to, version: record.version}})
      return {outcome: 'upgraded', reason: 'the new version passed its gates after the interrupted run'}
    } catch (error) {
      if (ctx.signal?.aborted) throw error
      reason = shortReason(error)
      reject = true
    }
  }

  const outcome = await rollBack(ctx, journal, reason ?? 'the previous run was interrupted before the new version started', switchOptions, {reject, started})
  await appendHistory(ctx.instance.paths, {action: 'recover', durationMs: Date.now() - started, from: journal.to, outcome: outcome.outcome, reason: 'finished an interrupted run', time: new Date().toISOString(), to: journal.from})
  if (outcome.outcome === 'failed') {
    throw new RollbackFailedError(`recovering the interrupted ${journal.action} failed: ${outcome.rollbackError}`, {
      hint: 'A person is needed: see `agnes status` and `agnes history`.',
      result: {outcome: 'failed', reason: outcome.rollbackError},
    })
  }

  return {outcome: outcome.outcome, reason: outcome.reason}
}

/** Turns a failed switch into the outcome contract's exit codes (10 rolled back, 11 failed). */
export function throwIfFailed(outcome: SwitchOutcome, result: object): void {
  if (outcome.outcome === 'rolled-back') {
    throw new RolledBackError(`${describe(outcome.to)} failed (${outcome.reason}); rolled back to ${describe(outcome.from)}, which is running and healthy`, {
      hint: `That digest will not be applied again by \`agnes upgrade\` unless you pass --force. See \`agnes history\`.`,
      result,
    })
  }

  if (outcome.outcome === 'failed') {
    throw new RollbackFailedError(`${describe(outcome.to)} failed (${outcome.reason}) and the rollback to ${describe(outcome.from)} failed too: ${outcome.rollbackError}`, {
      hint: 'A person is needed: the journal is kept; see `agnes status`, `docker compose logs app`, then `agnes rollback`.',
      result,
    })
  }
}

interface BusyVerdict {
  busy: boolean
  why?: string
}

/** A sync in progress: /api/sync/status locked, or a running data-refresh job. Probes fail open. */
async function instanceBusy(instance: Instance, signal?: AbortSignal): Promise<BusyVerdict> {
  const baseUrl = localBaseUrl(instance.env)
  const first = deadline(5000, signal)
  try {
    const response = await fetch(`${baseUrl}/api/sync/status`, {signal: first.signal})
    if (response.ok && ((await response.json()) as {locked?: boolean}).locked === true) return {busy: true, why: 'a sync holds the sync lock'}
  } catch {
    // Fail open: an instance that cannot answer is not busy syncing.
  } finally {
    first.clear()
  }

  const token = instance.env.get('SCHEDULER_API_TOKEN')
  if (!token) return {busy: false}
  const second = deadline(5000, signal)
  try {
    const response = await fetch(`${baseUrl}/api/jobs?kind=data-refresh&status=running&limit=1`, {headers: {authorization: `Bearer ${token}`}, signal: second.signal})
    if (response.ok) {
      const body = (await response.json()) as {jobs?: unknown[]} | unknown[]
      const jobs = Array.isArray(body) ? body : (body.jobs ?? [])
      if (jobs.length > 0) return {busy: true, why: 'a data-refresh job is running'}
    }
  } catch {
    // Fail open, as above.
  } finally {
    second.clear()
  }

  return {busy: false}
}

/** The cron path: follow the channel with health- and smoke-gated automatic rollback. */
export async function upgrade(options: UpgradeOptions): Promise<UpgradeResult> {
  const started = Date.now()
  const instance = await loadInstance(options.dir)
  return withInstanceLock(instance, 'upgrade', async () => {
    const {state, paths} = instance
    const base = {check: options.check, channel: options.channel ?? state.channel, pin: state.pin}
    let ctx: DeployContext | undefined
    const context = async () => (ctx ??= await openDeployContext(instance, options.reporter, options.signal))

    let recovered: UpgradeResult['recovered']
    const journal = await readJournal(paths)
    if (journal && !options.check) recovered = await recoverFromJournal(await context(), journal, options)

    if (state.pin) {
      return {...base, durationMs: Date.now() - started, message: `pinned to ${state.pin}; nothing to do. Run \`agnes pin --channel ${state.channel}\` to follow the channel again.`, outcome: 'pinned', recovered}
    }

    const channel = options.channel ?? state.channel
    const registry = createRegistryClient({signal: options.signal})
    let digest: string
    try {
      digest = (await registry.resolveDigest(state.repository, channel, {signal: options.signal})).digest
    } finally {
      await registry.close()
    }

    const running = await runningAppDigest(state.project, state.repository)
    const runningDigest = running.digest ?? state.current?.digest
    const target: JournalDeployment = {digest, repository: state.repository, tag: channel}
    const common = {...base, channel, durationMs: 0, recovered, registryRequests: registry.requests, to: target}
    if (!running.running) options.reporter.warn('the app container is not running; `agnes up` starts it.')
    const upToDate = (message: string): UpgradeResult => ({...common, durationMs: Date.now() - started, message, outcome: 'up-to-date'})

    if (digest === runningDigest) {
      const changed = channel !== state.channel || state.deferredSince !== undefined
      if (changed && !options.check) {
        state.channel = channel
        delete state.deferredSince
        await writeState(paths, state)
      }

      return upToDate(`already running ${channel} (${digest.slice(0, 19)}…).`)
    }

    if (state.rejected.includes(digest) && !options.force) {
      options.reporter.warn(`${channel} points at ${digest.slice(0, 19)}…, which failed and was rolled back before; skipping it (use --force to try again).`)
      return upToDate(`${channel} points at a rejected digest; staying on the current version.`)
    }

    if (options.check) {
      return {...common, durationMs: Date.now() - started, message: `would switch to ${channel} (${digest.slice(0, 19)}…).`, outcome: 'upgrade-available'}
    }

    const busy = await instanceBusy(instance, options.signal)
    if (busy.busy) {
      const since = state.deferredSince ?? new Date().toISOString()
      const waited = Date.now() - Date.parse(since)
      if (waited < options.maxDeferMs) {
        if (!state.deferredSince) {
          state.deferredSince = since
          await writeState(paths, state)
        }

        throw new TryLaterError('E_DEFERRED', `the instance is busy (${busy.why}); the upgrade is deferred`, {
          hint: `The next run tries again; after ${Math.round(options.maxDeferMs / 60_000)} min of deferral it proceeds anyway.`,
          result: {...common, deferredSince: since, durationMs: Date.now() - started, message: `deferred: ${busy.why}`, outcome: 'deferred'},
        })
      }

      options.reporter.warn(`the instance has been busy since ${since}; the maximum deferral has passed, upgrading anyway.`)
    }

    const outcome = await switchVersion(await context(), target, {action: 'upgrade', alertWebhook: options.alertWebhook, allowPull: true, healthTimeoutMs: options.healthTimeoutMs, smoke: options.smoke})
    const result: UpgradeResult = {
      ...common,
      alert: outcome.alert,
      durationMs: Date.now() - started,
      from: outcome.from,
      message: outcome.outcome === 'upgraded' ? `upgraded ${describe(outcome.from)} → ${describe(outcome.to)}.` : `${outcome.outcome}: ${outcome.reason}`,
      outcome: outcome.outcome,
      reason: outcome.reason,
      to: outcome.to,
    }
    throwIfFailed(outcome, result)
    if (channel !== state.channel) {
      state.channel = channel
      await writeState(paths, state)
    }

    return result
  })
}
