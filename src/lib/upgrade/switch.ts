import {hostname} from 'node:os'

import {sendAlert} from '../alert.js'
import {backupState, pruneBackups, restoreState} from '../backup.js'
import {APP_SERVICE, DeployContext, ensureImage, recordDeployment, startDigest} from '../deploy.js'
import {AgnesError, InterruptedError, NotFoundError} from '../errors.js'
import {HealthBody, UnhealthyError, fetchHealth} from '../health.js'
import {appendHistory} from '../history.js'
import {digestReference} from '../image-ref.js'
import {writeState} from '../instance/state.js'
import {redact} from '../redact.js'
import {Journal, JournalDeployment, clearJournal, writeJournal} from './journal.js'

/** The services that run the Agnes image and so are stopped and switched together. */
const IMAGE_SERVICES = ['scheduler', APP_SERVICE]
export const BACKUPS_KEPT = 5

export interface SmokeVerdict {
  passed: boolean
  failedStep?: string
  detail?: string
}

/** The post-health gate; `upgrade` passes the smoke library, tests and `--no-smoke` pass none. */
export type SmokeGate = (ctx: DeployContext) => Promise<SmokeVerdict>

export interface SwitchOptions {
  action: Journal['action']
  healthTimeoutMs: number
  smoke?: SmokeGate
  alertWebhook?: string
  /** When false the target must already be on this host (a rollback to an image the registry lost). */
  allowPull: boolean
  /**
   * A state backup the target wrote before it was left (rollback): restored when the target finds the
   * schema ahead of it (`db_schema: mismatch`), instead of failing.
   */
  restoreOnMismatch?: string
}

export type SwitchOutcomeName = 'upgraded' | 'rolled-back' | 'failed'

export interface SwitchOutcome {
  outcome: SwitchOutcomeName
  from: JournalDeployment
  to: JournalDeployment
  durationMs: number
  /** Why the new version was rejected (never command output). */
  reason?: string
  rollbackError?: string
  restoredBackup?: boolean
  backup?: string
  alert?: {delivered: boolean; error?: string}
}

export class SmokeFailedError extends AgnesError {
  constructor(verdict: SmokeVerdict) {
    super('E_SMOKE_FAILED', 3, `the smoke test failed at step "${verdict.failedStep ?? 'unknown'}"${verdict.detail ? `: ${verdict.detail}` : ''}`)
  }
}

export function describe(deployment: JournalDeployment): string {
  return `${deployment.version ?? deployment.tag ?? 'unknown version'} (${deployment.digest.slice(0, 19)}…)`
}

/** A one-line reason for history and alerts: never the container log tail, which may hold secrets. */
export function shortReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return redact(message.split('; its last log lines')[0].split('\n')[0]).slice(0, 300)
}

function schemaOf(health: HealthBody | undefined): number | string | undefined {
  return health?.current
}

function lastSeenHealth(error: unknown): HealthBody | undefined {
  if (error instanceof UnhealthyError) return error.details?.lastHealth as HealthBody | undefined
  return undefined
}

async function stopImageServices(ctx: DeployContext): Promise<void> {
  const active = await ctx.compose.activeServices({signal: ctx.signal})
  await ctx.compose.stop(IMAGE_SERVICES.filter((service) => active.includes(service)), {signal: ctx.signal})
}

async function appContainerId(ctx: DeployContext): Promise<string | undefined> {
  return (await ctx.engine.projectContainers(ctx.instance.state.project, APP_SERVICE))[0]?.id
}

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
  journal: Journal,
  reason: string,
  options: SwitchOptions,
  context: {started: number; seenSchema?: number | string; /** false when the target was never judged (a killed run) */ reject?: boolean},
): Promise<SwitchOutcome> {
  const {paths, state} = ctx.instance
  journal.phase = 'rolling-back'
  journal.reason = reason
  await writeJournal(paths, journal)
  ctx.reporter.warn(`${describe(journal.to)} failed: ${reason}. Rolling back to ${describe(journal.from)}.`)
  let restoredBackup = false
  try {
    ctx.reporter.progress(`Stopping ${describe(journal.to)}…`)
    await stopImageServices(ctx)
    restoredBackup = await restoreIfSchemaMoved(ctx, journal, context.seenSchema)
    ctx.reporter.progress(`Starting ${describe(journal.from)} again…`)
    try {
      await startDigest(ctx, journal.from.repository, journal.from.digest, {healthTimeoutMs: options.healthTimeoutMs})
    } catch (error) {
      // The old version reads a schema that is ahead of it: restore the backup and try once more.
      if (restoredBackup || !journal.backup || lastSeenHealth(error)?.db_schema !== 'mismatch') throw error
      await stopImageServices(ctx)
      restoredBackup = await restoreIfSchemaMoved(ctx, journal, undefined)
      await startDigest(ctx, journal.from.repository, journal.from.digest, {healthTimeoutMs: options.healthTimeoutMs})
    }
  } catch (rollbackError) {
    journal.phase = 'rollback-failed'
    await writeJournal(paths, journal)
    const rollbackReason = shortReason(rollbackError)
    await appendHistory(paths, {action: journal.action, durationMs: Date.now() - context.started, from: journal.from, outcome: 'failed', reason: `${reason}; rollback failed: ${rollbackReason}`, time: new Date().toISOString(), to: journal.to})
    const alertResult = await alert(ctx, options, `${journal.action} to ${describe(journal.to)} failed (${reason}) and the rollback to ${describe(journal.from)} failed too (${rollbackReason}). A person is needed.`)
    return {alert: alertResult, backup: journal.backup, durationMs: Date.now() - context.started, from: journal.from, outcome: 'failed', reason, restoredBackup, rollbackError: rollbackReason, to: journal.to}
  }

  if (context.reject !== false && !state.rejected.includes(journal.to.digest)) state.rejected.push(journal.to.digest)
  await recordDeployment(ctx, {digest: journal.from.digest, repository: journal.from.repository, tag: journal.from.tag})
  await clearJournal(paths)
  await appendHistory(paths, {action: journal.action, durationMs: Date.now() - context.started, from: journal.from, outcome: 'rolled-back', reason, time: new Date().toISOString(), to: journal.to})
  const alertResult = await alert(ctx, options, `${journal.action} to ${describe(journal.to)} failed (${reason}); rolled back to ${describe(journal.from)}, which is healthy.${restoredBackup ? ' The state backup was restored.' : ''}`)
  return {alert: alertResult, backup: journal.backup, durationMs: Date.now() - context.started, from: journal.from, outcome: 'rolled-back', reason, restoredBackup, to: journal.to}
}

/** Removes local images of this repository that are neither current nor a known-good rollback target. */
async function pruneImages(ctx: DeployContext): Promise<void> {
  const {state} = ctx.instance
  const keep = new Set([state.current?.digest, ...state.knownGood.map((known) => known.digest)])
  const images = await ctx.engine.api.listImages()
  for (const image of images) {
    const ours = (image.RepoDigests ?? []).filter((entry) => entry.startsWith(`${state.repository}@`))
    if (ours.length === 0 || ours.some((entry) => keep.has(entry.slice(state.repository.length + 1)))) continue
    await ctx.engine.removeImage(image.Id)
  }
}

/**
 * Switches the instance from its current deployment to `target` with every safeguard: the old version
 * keeps serving while the target is pulled; it is stopped gracefully and its state backed up; a journal
 * makes a killed run recoverable; the target must pass the health gate and the smoke gate; any failure
 * switches back automatically.
 */
export async function switchVersion(ctx: DeployContext, target: JournalDeployment, options: SwitchOptions): Promise<SwitchOutcome> {
  const started = Date.now()
  const {paths, state} = ctx.instance
  const current = state.current
  if (!current) throw new NotFoundError('the instance has no recorded deployment yet', {hint: 'Run `agnes up` first.'})
  const from: JournalDeployment = {digest: current.digest, repository: current.repository, tag: current.tag, version: current.version}
  const reference = digestReference(target.repository, target.digest)

  if (options.allowPull) await ensureImage(ctx, reference)
  else if (!(await ctx.engine.imageId(reference))) {
    throw new NotFoundError(`the image ${reference} is not on this host and may not be pulled`, {hint: 'Pick a deployment listed by `agnes history`.'})
  }

  const journal: Journal = {action: options.action, from, fromSchema: schemaOf(await fetchHealth(ctx.baseUrl, ctx.signal)), phase: 'stopping', pid: process.pid, startedAt: new Date().toISOString(), to: target}
  await writeJournal(paths, journal)
  ctx.reporter.progress(`Stopping ${describe(from)}…`)
  await stopImageServices(ctx)
  const oldApp = await appContainerId(ctx)
  if (oldApp) {
    const backup = await backupState(ctx.engine.api, oldApp, paths.backupsDir, from.digest.replace('sha256:', '').slice(0, 12))
    journal.backup = backup.file
    ctx.reporter.progress(`Backed up /data/state to ${backup.file}`)
  }

  journal.phase = 'switching'
  await writeJournal(paths, journal)
  ctx.reporter.progress(`Starting ${describe(target)}…`)
  let seenSchema: number | string | undefined
  try {
    try {
      await startDigest(ctx, target.repository, target.digest, {healthTimeoutMs: options.healthTimeoutMs})
    } catch (error) {
      if (!options.restoreOnMismatch || lastSeenHealth(error)?.db_schema !== 'mismatch') throw error
      ctx.reporter.progress(`${describe(target)} finds the schema ahead of it; restoring ${options.restoreOnMismatch}…`)
      await stopImageServices(ctx)
      const id = await appContainerId(ctx)
      if (id) await restoreState(ctx.engine.api, id, options.restoreOnMismatch)
      await startDigest(ctx, target.repository, target.digest, {healthTimeoutMs: options.healthTimeoutMs})
    }

    seenSchema = schemaOf(await fetchHealth(ctx.baseUrl, ctx.signal))
    if (options.smoke) {
      ctx.reporter.progress('Running the smoke test…')
      const verdict = await options.smoke(ctx)
      if (!verdict.passed) throw new SmokeFailedError(verdict)
    }
  } catch (error) {
    if (!ctx.signal?.aborted) {
      return rollBack(ctx, journal, shortReason(error), options, {seenSchema: seenSchema ?? schemaOf(lastSeenHealth(error)), started})
    }

    // Interrupted (Ctrl-C, SIGTERM) mid-switch: put the old version back before exiting, without the aborted
    // signal; a second signal still stops agnes at once and the journal lets the next run finish.
    ctx.reporter.warn('interrupted during the switch; switching back first.')
    const outcome = await rollBack({...ctx, signal: undefined}, journal, 'interrupted', options, {reject: false, seenSchema, started})
    throw new InterruptedError(
      outcome.outcome === 'rolled-back'
        ? `interrupted; ${describe(from)} is running again`
        : `interrupted, and switching back to ${describe(from)} failed: ${outcome.rollbackError}`,
      {result: {from, outcome: outcome.outcome, to: target}},
    )
  }

  const record = await recordDeployment(ctx, {digest: target.digest, repository: target.repository, tag: target.tag})
  const previous = state.knownGood.find((known) => known.digest === from.digest)
  if (previous && journal.backup) previous.backupBeforeLeaving = journal.backup
  state.rejected = state.rejected.filter((digest) => digest !== target.digest)
  delete state.deferredSince
  await writeState(paths, state)
  await clearJournal(paths)
  const to = {...target, version: record.version}
  await appendHistory(paths, {action: options.action, durationMs: Date.now() - started, from, outcome: options.action === 'upgrade' ? 'upgraded' : 'succeeded', time: new Date().toISOString(), to})
  await pruneImages(ctx).catch((error: unknown) => ctx.reporter.warn(`could not remove old images: ${shortReason(error)}`))
  await pruneBackups(paths.backupsDir, BACKUPS_KEPT).catch((error: unknown) => ctx.reporter.warn(`could not prune old backups: ${shortReason(error)}`))
  return {backup: journal.backup, durationMs: Date.now() - started, from, outcome: 'upgraded', to}
}
