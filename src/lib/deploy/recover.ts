import {ConflictError, RollbackFailedError} from '../errors.js'
import {digestReference} from '../image-registry/image-ref.js'
import {renderCompose, writeManagedFile} from '../instance/managed-files.js'
import {writeState} from '../instance/state.js'
import {appBaseline, appContainerWatcher, appImageDigest} from './app-container.js'
import {DeployContext} from './context.js'
import {EngineInterruptedError, fetchHealth, isHealthy, waitForHealthy} from './health.js'
import {appendHistory} from './history.js'
import {recoverPause} from '../backup/recover-pause.js'
import {Journal, SwitchJournal, clearJournal, isSwitchJournal} from './journal.js'
import {CommonSwitchOptions, SwitchOptions, describe, shortReason} from './outcome.js'
import {recordDeployment, startOtherServices} from './start.js'
import {rollBack} from './switch-back.js'
import {runSmokeGate} from './switch.js'

export interface RecoveryOutcome {
  /** restarted: the app a killed `backup` or `restore` left stopped runs again. */
  outcome: 'already-running' | 'upgraded' | 'rolled-back' | 'restarted'
  reason?: string
}

/** Finishes what a killed or failed run left in the journal: a switch, or the pause of a backup or restore. */
export async function recoverFromJournal(ctx: DeployContext, journal: Journal, options: CommonSwitchOptions): Promise<RecoveryOutcome> {
  return isSwitchJournal(journal) ? recoverSwitch(ctx, journal, options) : recoverPause(ctx, journal, options)
}

/**
 * Finishes a switch a killed or failed run left, looking first at what runs: the old version
 * running and healthy (the switch never happened, or a person fixed things) is kept as it is, nothing
 * stopped and no backup restored over what it wrote since; the new version running is given the gates the
 * run could not finish; anything else goes back to the old version. Only a target that started and failed
 * its gates is rejected.
 */
async function recoverSwitch(ctx: DeployContext, journal: SwitchJournal, options: CommonSwitchOptions): Promise<RecoveryOutcome> {
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
      await runSmokeGate(ctx, options.smoke)
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

