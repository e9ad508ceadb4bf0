import type {RecoveryOutcome} from '../deploy/recover.js'
import {DeployContext} from '../deploy/context.js'
import {fetchHealth, isHealthy} from '../deploy/health.js'
import {appendHistory} from '../deploy/history.js'
import {Journal, clearJournal, writeJournal} from '../deploy/journal.js'
import {CommonSwitchOptions, describe, shortReason} from '../deploy/outcome.js'
import {startOtherServices} from '../deploy/start.js'
import {RollbackFailedError} from '../errors.js'
import {appContainerId, recoverStopped} from './app-pause.js'
import {restoreState} from './snapshots.js'

/**
 * Finishes a `backup` or `restore` that was killed while the app was stopped (src/lib/backup/app-pause.ts):
 * the same deployment is started again behind the health gate. A restore killed while it replaced the state
 * (phase restoring) first puts back the copy of the state it replaced, as an interrupted restore does; one
 * killed after the state was replaced (restored) keeps it if the app is healthy on it, else puts the copy back.
 */
export async function recoverPause(ctx: DeployContext, journal: Journal, options: CommonSwitchOptions): Promise<RecoveryOutcome> {
  const started = Date.now()
  const {paths} = ctx.instance
  const deployment = journal.from
  ctx.reporter.warn(`found the journal of an interrupted ${journal.action} (${journal.phase}, ${describe(deployment)}); starting the app again first.`)
  const history = (outcome: string, reason: string) => appendHistory(paths, {action: 'recover', durationMs: Date.now() - started, from: deployment, outcome, reason, time: new Date().toISOString(), to: deployment})
  const putBack = journal.phase === 'restoring' && journal.backup ? journal.backup : undefined

  if (!putBack && isHealthy(await fetchHealth(ctx.baseUrl, ctx.signal))) {
    // Killed mid-stop or mid-start, the app may run while the scheduler does not.
    await startOtherServices(ctx)
    await clearJournal(paths)
    const why = `${describe(deployment)} is running and healthy again`
    await history('already-running', `an interrupted ${journal.action}: ${why}`)
    return {outcome: 'already-running', reason: why}
  }

  const failure = new Error(`an interrupted ${journal.action}`)
  try {
    await recoverStopped(ctx, deployment, options.healthTimeoutMs, failure, putBack ? async (calm) => restoreState(calm.engine.api, await appContainerId(calm), putBack) : undefined)
  } catch (error) {
    const kept = journal.phase === 'restored' && journal.backup
    if (!kept || !(error instanceof RollbackFailedError)) throw error
    // The restored state does not start: put back the state it replaced, as `agnes restore` does.
    ctx.reporter.warn(`the restored state does not start (${shortReason(error)}); putting back the state it replaced (${kept}).`)
    await writeJournal(paths, {...journal, backup: kept, phase: 'restoring'})
    await recoverStopped(ctx, deployment, options.healthTimeoutMs, error, async (calm) => restoreState(calm.engine.api, await appContainerId(calm), kept))
    await history('rolled-back', `an interrupted restore: its state did not start, the state it replaced (${kept}) is back`)
    return {outcome: 'rolled-back', reason: 'the interrupted restore did not start; the state it replaced is back'}
  }

  const why = putBack ? `an interrupted restore: the state it replaced (${putBack}) is back and ${describe(deployment)} runs` : `an interrupted ${journal.action}: ${describe(deployment)} runs again`
  await history(putBack ? 'rolled-back' : 'restarted', why)
  return {outcome: putBack ? 'rolled-back' : 'restarted', reason: why}
}
