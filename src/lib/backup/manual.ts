import {basename} from 'node:path'

import {openDeployContext} from '../deploy/context.js'
import {withLockedInstance} from '../instance/lock.js'
import {loadInstance} from '../instance/state.js'
import {Reporter} from '../ui/reporter.js'
import {OpenContext, appContainerId, checkPausePlan, pauseApp, recordedDeployment, recoverStopped, startAgain} from './app-pause.js'
import {BackupInfo, MANUAL_LABEL, backupKind, listBackups} from './retention.js'
import {backupState} from './snapshots.js'

export const RETENTION_NOTE = 'manual backups are kept until you remove them; agnes never prunes one'

export interface TakeBackupOptions {
  dir: string
  reporter: Reporter
  signal?: AbortSignal
  healthTimeoutMs: number
  /** Opens the engine and Compose (tests pass fakes). */
  openContext?: OpenContext
}

export interface TakeBackupResult {
  outcome: 'backed-up'
  backup: BackupInfo
  retention: string
  durationMs: number
}

/**
 * `agnes backup`: with the instance locked and the plan checked, stops the app gracefully, copies
 * `/data/state` into `.agnes/backups`, and starts the same deployment again behind the health gate.
 */
export async function takeBackup(options: TakeBackupOptions): Promise<TakeBackupResult> {
  const started = Date.now()
  return withLockedInstance(options.dir, 'backup', async (instance) => {
    const current = await recordedDeployment(instance)
    const ctx = await (options.openContext ?? openDeployContext)(instance, options.reporter, options.signal)
    await checkPausePlan(ctx)
    options.reporter.progress('Stopping the app to copy a consistent /data/state…')
    let taken
    try {
      await pauseApp(ctx, 'backup', current)
      taken = await backupState(ctx.engine.api, await appContainerId(ctx), instance.paths.backupsDir, MANUAL_LABEL)
    } catch (error) {
      await recoverStopped(ctx, current, options.healthTimeoutMs, error)
      throw error
    }

    options.reporter.progress(`Backed up /data/state to ${taken.file}; starting the app again…`)
    try {
      await startAgain(ctx, current, options.healthTimeoutMs)
    } catch (error) {
      await recoverStopped(ctx, current, options.healthTimeoutMs, error)
      throw error
    }
    return {
      backup: {createdAt: taken.createdAt, file: taken.file, id: basename(taken.file, '.tar'), kind: backupKind(MANUAL_LABEL), label: MANUAL_LABEL, size: taken.bytes},
      durationMs: Date.now() - started,
      outcome: 'backed-up',
      retention: RETENTION_NOTE,
    }
  })
}

/** `agnes backup list`: every backup of the instance, newest first. Reads only; takes no lock. */
export async function listInstanceBackups(dir: string): Promise<BackupInfo[]> {
  const {paths} = await loadInstance(dir)
  return listBackups(paths.backupsDir)
}
