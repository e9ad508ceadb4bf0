import {deadline} from '../deadline.js'
import {APP_SERVICE, DeployContext, appBaseline, appContainerWatcher, appImageDigest, openDeployContext, recordDeployment} from './context.js'
import {runningAppDigest} from '../docker/socket.js'
import {ConflictError, RollbackFailedError, RolledBackError, TryLaterError} from '../errors.js'
import {EngineInterruptedError, fetchHealth, isHealthy, waitForHealthy} from './health.js'
import {appendHistory} from './history.js'
import {digestReference} from '../image-registry/image-ref.js'
import {renderCompose, writeManagedFile} from '../instance/managed-files.js'
import {Instance, localBaseUrl, writeState} from '../instance/state.js'
import {createRegistryClient} from '../image-registry/client.js'
import {Reporter} from '../ui/reporter.js'
import {withLockedInstance} from '../instance/lock.js'
import {Channel} from '../image-registry/versions.js'
import {Journal, JournalDeployment, clearJournal, readJournal} from './journal.js'
import {SmokeGate, SwitchOptions, SwitchOutcome, describe, rollBack, shortReason, smokeGate, switchVersion} from './switch.js'

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
  /** Rolled back: whether the new version was rejected (false when it was never judged, e.g. the engine restarted). */
  rejected?: boolean
  recovered?: RecoveryOutcome
  /** How long the way back took, when the new version was rolled back. */
  rollbackMs?: number
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

/** Starts the services other than the app (scheduler, caddy, the operator's own) that are not running. */
async function startOtherServices(ctx: DeployContext): Promise<void> {
  const others = (await ctx.compose.activeServices({signal: ctx.signal})).filter((service) => service !== APP_SERVICE)
  if (others.length > 0) await ctx.compose.up(others, {noDeps: true, signal: ctx.signal})
}

export interface RecoveryOutcome {
  outcome: 'already-running' | 'upgraded' | 'rolled-back'
  reason?: string
}

/**
 * Finishes what a killed or failed run left in the journal, looking first at what runs: the old version
 * running and healthy (the switch never happened, or a person fixed things) is kept as it is, nothing
 * stopped and no backup restored over what it wrote since; the new version running is given the gates the
 * run could not finish; anything else goes back to the old version. Only a target that started and failed
 * its gates is rejected.
 */
export async function recoverFromJournal(ctx: DeployContext, journal: Journal, options: CommonSwitchOptions): Promise<RecoveryOutcome> {
  const started = Date.now()
  const {paths, state} = ctx.instance
  ctx.reporter.warn(`found the journal of an interrupted ${journal.action} (${describe(journal.from)} → ${describe(journal.to)}, ${journal.phase}); finishing it first.`)
  const switchOptions: SwitchOptions = {action: journal.action, alertWebhook: options.alertWebhook, allowPull: false, healthTimeoutMs: options.healthTimeoutMs, smoke: options.smoke}
  let reason = journal.reason
  let reject = journal.targetFailed === true
  const running = await appImageDigest(ctx, journal.to.repository).catch(() => ({digest: undefined, running: false}))

  if (running.running && running.digest === journal.from.digest && isHealthy(await fetchHealth(ctx.baseUrl, ctx.signal))) {
    // The managed file may already name the target (killed right after writing it): make it name what runs.
    await writeManagedFile(paths, state, paths.compose, await renderCompose(digestReference(journal.from.repository, journal.from.digest))).catch((error: unknown) => {
      if (!(error instanceof ConflictError)) throw error
    })
    await startOtherServices(ctx)
    if (reject && !state.rejected.includes(journal.to.digest)) state.rejected.push(journal.to.digest)
    await recordDeployment(ctx, {digest: journal.from.digest, repository: journal.from.repository, tag: journal.from.tag})
    await clearJournal(paths)
    const why = `${describe(journal.from)} is running and healthy; nothing was stopped or restored`
    await appendHistory(paths, {action: 'recover', durationMs: Date.now() - started, from: journal.to, outcome: 'already-running', reason: why, time: new Date().toISOString(), to: journal.from})
    ctx.reporter.progress(`${why}; the journal is cleared.`)
    return {outcome: 'already-running', reason: why}
  }

  if (journal.phase === 'switching' && running.running && running.digest === journal.to.digest) {
    // The new version was started: give it the gates the killed run could not finish.
    try {
      await waitForHealthy({baseUrl: ctx.baseUrl, checkContainer: appContainerWatcher(ctx, await appBaseline(ctx)), reporter: ctx.reporter, signal: ctx.signal, timeoutMs: options.healthTimeoutMs})
      await smokeGate(ctx, options.smoke)
      await startOtherServices(ctx)
      const record = await recordDeployment(ctx, {digest: journal.to.digest, repository: journal.to.repository, tag: journal.to.tag})
      const previous = state.knownGood.find((known) => known.digest === journal.from.digest)
      if (previous && journal.backup) previous.backupBeforeLeaving = journal.backup
      state.rejected = state.rejected.filter((digest) => digest !== journal.to.digest)
      await writeState(paths, state)
      await clearJournal(paths)
      await appendHistory(paths, {action: 'recover', durationMs: Date.now() - started, from: journal.from, outcome: 'upgraded', reason: 'confirmed after an interrupted run', time: new Date().toISOString(), to: {...journal.to, version: record.version}})
      return {outcome: 'upgraded', reason: 'the new version passed its gates after the interrupted run'}
    } catch (error) {
      if (ctx.signal?.aborted) throw error
      reason = shortReason(error)
      // The engine restarting mid-gate says nothing about the release: it is tried again, not rejected.
      if (!(error instanceof EngineInterruptedError)) reject = true
    }
  }

  const outcome = await rollBack(ctx, journal, reason ?? 'the previous run was interrupted before the new version started', switchOptions, {reject, started})
  await appendHistory(paths, {action: 'recover', durationMs: Date.now() - started, from: journal.to, outcome: outcome.outcome, reason: 'finished an interrupted run', time: new Date().toISOString(), to: journal.from})
  if (outcome.outcome === 'failed') {
    throw new RollbackFailedError(`recovering the interrupted ${journal.action} failed: ${outcome.rollbackError}`, {
      hint: 'A person is needed: see `agnes status` and `agnes history`.',
      result: {outcome: 'failed', reason: outcome.rollbackError, rollbackMs: outcome.rollbackMs},
    })
  }

  return {outcome: 'rolled-back', reason: outcome.reason}
}

/** Turns a failed switch into the outcome contract's exit codes (10 rolled back, 11 failed). */
export function throwIfFailed(outcome: SwitchOutcome, result: object): void {
  if (outcome.outcome === 'rolled-back') {
    const verdict = outcome.rejected === false ? 'could not be judged' : 'failed'
    throw new RolledBackError(`${describe(outcome.to)} ${verdict} (${outcome.reason}); rolled back to ${describe(outcome.from)} in ${((outcome.rollbackMs ?? 0) / 1000).toFixed(1)} s, which is running and healthy`, {
      hint:
        outcome.rejected === false
          ? 'It was not rejected: the next `agnes upgrade` tries it again. See `agnes history`.'
          : `That digest will not be applied again by \`agnes upgrade\` unless you pass --force. See \`agnes history\`.`,
      result,
    })
  }

  if (outcome.outcome === 'failed') {
    throw new RollbackFailedError(`${describe(outcome.to)} failed (${outcome.reason}) and the rollback to ${describe(outcome.from)} failed too: ${outcome.rollbackError}`, {
      hint: 'A person is needed: the journal is kept; see `agnes status`, `agnes logs app --tail 100`, then `agnes rollback`.',
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
  return withLockedInstance(options.dir, 'upgrade', async (instance) => {
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

    const running = await runningAppDigest(state.project, state.repository, paths.dir)
    const runningDigest = running.digest ?? state.current?.digest
    const target: JournalDeployment = {digest, repository: state.repository, tag: channel}
    const common = {...base, channel, durationMs: 0, recovered, registryRequests: registry.requests, to: target}
    if (!running.running) options.reporter.warn('the app container is not running; `agnes up` starts it.')
    const upToDate = async (message: string, channelChanged: boolean): Promise<UpgradeResult> => {
      // An idle tick ends a deferral: the next busy spell starts its own clock.
      if ((channelChanged || state.deferredSince !== undefined) && !options.check) {
        if (channelChanged) state.channel = channel
        delete state.deferredSince
        await writeState(paths, state)
      }

      return {...common, durationMs: Date.now() - started, message, outcome: 'up-to-date'}
    }

    if (digest === runningDigest) return upToDate(`already running ${channel} (${digest.slice(0, 19)}…).`, channel !== state.channel)

    if (state.rejected.includes(digest) && !options.force) {
      options.reporter.warn(`${channel} points at ${digest.slice(0, 19)}…, which failed and was rolled back before; skipping it (use --force to try again).`)
      return upToDate(`${channel} points at a rejected digest; staying on the current version.`, false)
    }

    if (options.check) {
      return {...common, durationMs: Date.now() - started, message: `would switch to ${channel} (${digest.slice(0, 19)}…).`, outcome: 'upgrade-available'}
    }

    let overdue = false
    const deferIfBusy = async (): Promise<void> => {
      if (overdue) return
      const busy = await instanceBusy(instance, options.signal)
      if (!busy.busy) return
      const since = state.deferredSince ?? new Date().toISOString()
      if (Date.now() - Date.parse(since) >= options.maxDeferMs) {
        overdue = true
        options.reporter.warn(`the instance has been busy since ${since}; the maximum deferral has passed, upgrading anyway.`)
        return
      }

      if (!state.deferredSince) {
        state.deferredSince = since
        await writeState(paths, state)
      }

      throw new TryLaterError('E_DEFERRED', `the instance is busy (${busy.why}); the upgrade is deferred`, {
        hint: `The next run tries again; after ${Math.round(options.maxDeferMs / 60_000)} min of deferral it proceeds anyway.`,
        result: {...common, deferredSince: since, durationMs: Date.now() - started, message: `deferred: ${busy.why}`, outcome: 'deferred'},
      })
    }

    await deferIfBusy()
    const outcome = await switchVersion(await context(), target, {
      action: 'upgrade',
      // A sync may have started during the pull: look again before anything stops.
      afterPull: deferIfBusy,
      alertWebhook: options.alertWebhook,
      allowPull: true,
      healthTimeoutMs: options.healthTimeoutMs,
      onSuccess(next) {
        next.channel = channel
      },
      smoke: options.smoke,
    })
    const result: UpgradeResult = {
      ...common,
      alert: outcome.alert,
      durationMs: Date.now() - started,
      from: outcome.from,
      message: outcome.outcome === 'upgraded' ? `upgraded ${describe(outcome.from)} → ${describe(outcome.to)}.` : `${outcome.outcome}: ${outcome.reason}`,
      outcome: outcome.outcome,
      reason: outcome.reason,
      ...(outcome.outcome === 'rolled-back' ? {rejected: outcome.rejected} : {}),
      rollbackMs: outcome.rollbackMs,
      to: outcome.to,
    }
    throwIfFailed(outcome, result)
    return result
  })
}
