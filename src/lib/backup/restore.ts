import {basename} from 'node:path'

import {DeployContext, openDeployContext} from '../deploy/context.js'
import {readJournal, writeJournal} from '../deploy/journal.js'
import {shortReason} from '../deploy/outcome.js'
import {InputRequiredError, InterruptedError, RolledBackError} from '../errors.js'
import {withLockedInstance} from '../instance/lock.js'
import {Deployment} from '../instance/state.js'
import {Reporter} from '../ui/reporter.js'
import {OpenContext, appContainerId, checkPausePlan, pauseApp, recordedDeployment, recoverStopped, startAgain} from './app-pause.js'
import {BackupInfo, PRE_RESTORE_BACKUPS_KEPT, PRE_RESTORE_LABEL, backupKind, findBackup, pruneBackups, validateBackupId} from './retention.js'
import {StateBackup, backupState, readBackupEntries, restoreState} from './snapshots.js'

export interface RestoreOptions {
  dir: string
  id: string
  reporter: Reporter
  signal?: AbortSignal
  healthTimeoutMs: number
  /** --yes: no confirmation. Without it, `ask` (a terminal prompt) confirms once the plan holds; with neither, exit 4. */
  yes: boolean
  ask?: (message: string) => Promise<boolean>
  /** Opens the engine and Compose (tests pass fakes). */
  openContext?: OpenContext
}

export interface RestoreResult {
  outcome: 'restored'
  restored: BackupInfo
  /** The backup of the state the restore replaced: `agnes restore <its id>` undoes this restore. */
  kept: BackupInfo
  deployment: {digest: string; version?: string}
  pruned: string[]
  durationMs: number
}

function keptInfo(backup: StateBackup): BackupInfo {
  return {createdAt: backup.createdAt, file: backup.file, id: basename(backup.file, '.tar'), kind: backupKind(PRE_RESTORE_LABEL), label: PRE_RESTORE_LABEL, size: backup.bytes}
}

/**
 * `agnes restore <id>`: with the instance locked, checks the whole plan (the backup exists and parses, the
 * engine answers, room for another backup) while the app keeps serving; then stops the app gracefully,
 * backs up the state it is about to replace, restores, and starts the same deployment behind the health
 * gate. A restored state that fails the gate is replaced by the state it replaced, and the app started
 * again (exit 10); the app is never left stopped.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now()
  const id = validateBackupId(options.id)
  const {ask, yes} = options
  if (!yes && !ask) throw new InputRequiredError('--yes', 'Confirmation to replace the instance state', {hint: `Re-run with --yes to restore ${id}, or run in a terminal to be asked.`})
  return withLockedInstance(options.dir, 'restore', async (instance) => {
    const {paths} = instance
    const backup = await findBackup(paths.backupsDir, id)
    await readBackupEntries(backup.file)
    const current = await recordedDeployment(instance)
    const ctx = await (options.openContext ?? openDeployContext)(instance, options.reporter, options.signal)
    await checkPausePlan(ctx)
    if (!yes && !(await ask!(`Stop the app and replace /data/state with the backup ${backup.id} (${backup.createdAt})? The current state is backed up first.`))) {
      throw new InterruptedError('Cancelled; nothing was changed')
    }

    options.reporter.progress('Stopping the app…')
    let kept: StateBackup
    try {
      await pauseApp(ctx, 'restore', current)
      kept = await backupState(ctx.engine.api, await appContainerId(ctx), paths.backupsDir, PRE_RESTORE_LABEL)
    } catch (error) {
      await recoverStopped(ctx, current, options.healthTimeoutMs, error)
      throw error
    }

    options.reporter.progress(`Backed up the current state to ${kept.file}; restoring ${backup.id}…`)
    const journal = await readJournal(paths)
    try {
      // From here a killed run has left a state that may be half replaced: its recovery puts `kept` back.
      if (journal) await writeJournal(paths, {...journal, backup: kept.file, phase: 'restoring'})
      await restoreState(ctx.engine.api, await appContainerId(ctx), backup.file)
      if (journal) await writeJournal(paths, {...journal, backup: kept.file, phase: 'restored'})
      options.reporter.progress('Starting the app on the restored state…')
      await startAgain(ctx, current, options.healthTimeoutMs)
    } catch (error) {
      await putBack(ctx, current, options, kept, error)
    }

    const pruned = await pruneBackups(paths.backupsDir, PRE_RESTORE_BACKUPS_KEPT, [kept.file, backup.file], 'pre-restore').catch((error: unknown) => {
      options.reporter.warn(`could not prune old pre-restore backups: ${shortReason(error)}`)
      return []
    })
    return {
      deployment: {digest: current.digest, version: current.version},
      durationMs: Date.now() - started,
      kept: keptInfo(kept),
      outcome: 'restored',
      pruned,
      restored: backup,
    }
  })
}

/** The restored state failed (or the run was interrupted): put back the state it replaced and start again. */
async function putBack(ctx: DeployContext, current: Deployment, options: RestoreOptions, kept: StateBackup, failure: unknown): Promise<never> {
  options.reporter.warn(`${ctx.signal?.aborted ? 'interrupted' : `the restored state failed (${shortReason(failure)})`}; putting back the state it replaced (${kept.file}).`)
  // Killed while the copy goes back, the next run must put it back again, not keep a half-written state.
  const journal = await readJournal(ctx.instance.paths)
  if (journal) await writeJournal(ctx.instance.paths, {...journal, backup: kept.file, phase: 'restoring'})
  await recoverStopped(ctx, current, options.healthTimeoutMs, failure, async (calm) => restoreState(calm.engine.api, await appContainerId(calm), kept.file))
  if (ctx.signal?.aborted) throw new InterruptedError('interrupted; the state the restore replaced is back and the app is running again')
  throw new RolledBackError(`restoring the backup failed: ${shortReason(failure)}; the state it replaced is back and the app is healthy`, {
    hint: `The backup may not suit this version (${current.version ?? current.digest}); \`agnes backup list\` shows the others.`,
    result: {kept: keptInfo(kept), outcome: 'rolled-back', reason: shortReason(failure)},
  })
}
