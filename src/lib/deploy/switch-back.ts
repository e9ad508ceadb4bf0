import {hostname} from 'node:os'

import {sendAlert} from '../alert.js'
import {restoreState} from '../backup/snapshots.js'
import {appContainerId} from './app-container.js'
import {DeployContext} from './context.js'
import {lastSeenHealth} from './health.js'
import {appendHistory} from './history.js'
import {Journal, SwitchJournal, clearJournal, writeJournal} from './journal.js'
import {SwitchOptions, SwitchOutcome, describe, shortReason} from './outcome.js'
import {recordDeployment, rollbackHealthTimeoutMs, startDigest, stopImageServices} from './start.js'

async function alert(ctx: DeployContext, options: SwitchOptions, text: string): Promise<SwitchOutcome['alert']> {
  if (!options.alertWebhook) return undefined
  const result = await sendAlert(options.alertWebhook, `agnes on ${hostname()} (${ctx.instance.paths.dir}): ${text}`, {timeoutMs: 10_000})
  if (!result.delivered) ctx.reporter.warn(`the alert webhook was not delivered: ${result.error ?? `HTTP ${result.status}`}`)
  return {delivered: result.delivered, ...(result.error ? {error: result.error} : {})}
}

/**
 * Restores the state backup into the stopped app container's volume when the schema may have moved:
 * the failed version reported another schema than the old one, or never reported one.
 */
async function restoreIfSchemaMoved(ctx: DeployContext, journal: Journal, seenSchema: number | string | undefined): Promise<boolean> {
  if (!journal.backup) return false
  if (seenSchema !== undefined && journal.fromSchema !== undefined && String(seenSchema) === String(journal.fromSchema)) return false
  const id = await appContainerId(ctx)
  if (!id) return false
  ctx.reporter.progress(`Restoring the state backup ${journal.backup}…`)
  await restoreState(ctx.engine.api, id, journal.backup)
  return true
}

/**
 * Switches back to the journal's `from` deployment: stop the failed version, restore the state backup when
 * the schema moved, start the old digest from the local image and wait for health. The rejected digest is
 * never applied again by a cron tick.
 */
export async function rollBack(
  ctx: DeployContext,
  journal: SwitchJournal,
  reason: string,
  options: SwitchOptions,
  context: {started: number; seenSchema?: number | string; /** false when the target was never judged (a killed run) */ reject?: boolean},
): Promise<SwitchOutcome> {
  const {paths, state} = ctx.instance
  const rollbackStarted = Date.now()
  const healthTimeoutMs = rollbackHealthTimeoutMs(state, journal.from.digest, options.healthTimeoutMs)
  journal.phase = 'rolling-back'
  journal.reason = reason
  if (context.reject !== false) journal.targetFailed = true
  await writeJournal(paths, journal)
  const verdict = journal.targetFailed ? 'failed' : 'was not judged'
  ctx.reporter.warn(`${describe(journal.to)} ${verdict}: ${reason}. Rolling back to ${describe(journal.from)} (waiting up to ${Math.round(healthTimeoutMs / 1000)} s for it).`)
  let restoredBackup = false
  let bootMs: number
  try {
    ctx.reporter.progress(`Stopping ${describe(journal.to)}…`)
    await stopImageServices(ctx)
    restoredBackup = await restoreIfSchemaMoved(ctx, journal, context.seenSchema)
    ctx.reporter.progress(`Starting ${describe(journal.from)} again…`)
    try {
      bootMs = (await startDigest(ctx, journal.from.repository, journal.from.digest, {healthTimeoutMs})).gate.elapsedMs
    } catch (error) {
      // The old version reads a schema that is ahead of it: restore the backup and try once more.
      if (restoredBackup || !journal.backup || lastSeenHealth(error)?.db_schema !== 'mismatch') throw error
      await stopImageServices(ctx)
      restoredBackup = await restoreIfSchemaMoved(ctx, journal, undefined)
      bootMs = (await startDigest(ctx, journal.from.repository, journal.from.digest, {healthTimeoutMs})).gate.elapsedMs
    }
  } catch (rollbackError) {
    journal.phase = 'rollback-failed'
    await writeJournal(paths, journal)
    const rollbackReason = shortReason(rollbackError)
    const rollbackMs = Date.now() - rollbackStarted
    await appendHistory(paths, {action: journal.action, durationMs: Date.now() - context.started, from: journal.from, outcome: 'failed', reason: `${reason}; rollback failed: ${rollbackReason}`, time: new Date().toISOString(), to: journal.to})
    const alertResult = await alert(ctx, options, `${journal.action} to ${describe(journal.to)} ${verdict} (${reason}) and the rollback to ${describe(journal.from)} failed too (${rollbackReason}). A person is needed.`)
    return {alert: alertResult, backup: journal.backup, durationMs: Date.now() - context.started, from: journal.from, outcome: 'failed', reason, restoredBackup, rollbackError: rollbackReason, rollbackMs, to: journal.to}
  }

  if (journal.targetFailed && !state.rejected.includes(journal.to.digest)) state.rejected.push(journal.to.digest)
  delete state.deferredSince
  await recordDeployment(ctx, {digest: journal.from.digest, repository: journal.from.repository, tag: journal.from.tag}, {bootMs})
  await clearJournal(paths)
  const rollbackMs = Date.now() - rollbackStarted
  ctx.reporter.progress(`Rolled back to ${describe(journal.from)} in ${(rollbackMs / 1000).toFixed(1)} s.`)
  await appendHistory(paths, {action: journal.action, durationMs: Date.now() - context.started, from: journal.from, outcome: 'rolled-back', reason, time: new Date().toISOString(), to: journal.to})
  const retried = journal.targetFailed ? '' : ' It was not rejected: the next run tries it again.'
  const afterRejection = journal.targetFailed && options.onRejected ? await options.onRejected(journal.to, journal.from) : undefined
  const alertResult = await alert(ctx, options, `${journal.action} to ${describe(journal.to)} ${verdict} (${reason}); rolled back to ${describe(journal.from)}, which is healthy.${restoredBackup ? ' The state backup was restored.' : ''}${retried}${afterRejection ? ` ${afterRejection}` : ''}`)
  return {alert: alertResult, backup: journal.backup, durationMs: Date.now() - context.started, from: journal.from, outcome: 'rolled-back', reason, rejected: journal.targetFailed === true, restoredBackup, rollbackMs, to: journal.to}
}
