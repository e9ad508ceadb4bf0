import {hostname} from 'node:os'

import {resolve} from 'node:path'

import {sendAlert} from '../alert.js'
import {checkBackupRoom, pruneBackups} from '../backup/retention.js'
import {backupState, restoreState} from '../backup/snapshots.js'
import {APP_SERVICE, DeployContext, appContainerWatcher, checkComposeConfig, ensureImage, recordDeployment, rollbackHealthTimeoutMs, startDigest} from './context.js'
import {AgnesError, DockerError, InterruptedError, InvalidInputError, NotFoundError, RollbackFailedError} from '../errors.js'
import {EngineInterruptedError, HealthBody, UnhealthyError, fetchHealth} from './health.js'
import {appendHistory} from './history.js'
import {digestReference} from '../image-registry/image-ref.js'
import {isHandEdited} from '../instance/managed-files.js'
import {instancePaths} from '../instance/paths.js'
import {InstanceState, readTextIfExists, writeState} from '../instance/state.js'
import {redact} from '../secrets/redact.js'
import {Journal, JournalDeployment, clearJournal, readJournal, writeJournal} from './journal.js'

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
  /**
   * State that belongs to a successful switch (a pin, a channel, a rejection): applied and persisted with
   * the new deployment, before the journal is cleared, so nothing is written after it.
   */
  onSuccess?: (state: InstanceState) => void
  /** Runs after the pull, before anything is stopped: the last chance to back out (a sync started meanwhile). */
  afterPull?: () => Promise<void>
}

export type SwitchOutcomeName = 'upgraded' | 'rolled-back' | 'failed'

export interface SwitchOutcome {
  outcome: SwitchOutcomeName
  from: JournalDeployment
  to: JournalDeployment
  durationMs: number
  /** Why the new version was rejected (never command output). */
  reason?: string
  /** Rolled back: whether the target was judged and rejected (false when the engine interrupted it, or Ctrl-C). */
  rejected?: boolean
  rollbackError?: string
  /** How long the way back took (stop, restore, start, health), when there was one. */
  rollbackMs?: number
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
  if (error instanceof UnhealthyError || error instanceof EngineInterruptedError) return error.details?.lastHealth as HealthBody | undefined
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
  const alertResult = await alert(ctx, options, `${journal.action} to ${describe(journal.to)} ${verdict} (${reason}); rolled back to ${describe(journal.from)}, which is healthy.${restoredBackup ? ' The state backup was restored.' : ''}${retried}`)
  return {alert: alertResult, backup: journal.backup, durationMs: Date.now() - context.started, from: journal.from, outcome: 'rolled-back', reason, rejected: journal.targetFailed === true, restoredBackup, rollbackMs, to: journal.to}
}

const WORKING_DIR_LABEL = 'com.docker.compose.project.working_dir'

/**
 * The digests other agnes instances on this host run or keep for rollback, found through the compose
 * working-directory labels of the engine's containers and their `.agnes/state.json` and journal. Undefined
 * when one of them cannot be read: then nobody can tell what is safe to remove.
 */
async function digestsOfOtherInstances(ownDir: string, containers: Array<{Labels?: Record<string, string>}>): Promise<Set<string> | undefined> {
  const dirs = new Set(containers.map((container) => container.Labels?.[WORKING_DIR_LABEL]).filter((dir): dir is string => Boolean(dir)).map((dir) => resolve(dir)))
  dirs.delete(resolve(ownDir))
  const digests = new Set<string>()
  for (const dir of dirs) {
    const paths = instancePaths(dir)
    try {
      const text = await readTextIfExists(paths.stateFile)
      if (text === undefined) continue
      const state = JSON.parse(text) as Partial<InstanceState>
      for (const deployment of [state.current, ...(state.knownGood ?? [])]) if (deployment?.digest) digests.add(deployment.digest)
      const journal = await readJournal(paths)
      if (journal) for (const digest of [journal.from.digest, journal.to.digest]) digests.add(digest)
    } catch {
      return undefined
    }
  }

  return digests
}

/**
 * Removes images this instance deployed and no longer keeps (neither current nor a known-good rollback
 * target), unless any container on the host uses them, running or stopped, or another instance here keeps
 * them for its own rollback.
 */
async function pruneImages(ctx: DeployContext, deployed: Iterable<string>): Promise<void> {
  const {paths, state} = ctx.instance
  const keep = new Set([state.current?.digest, ...state.knownGood.map((known) => known.digest)])
  const candidates = [...new Set(deployed)].filter((digest) => !keep.has(digest))
  if (candidates.length === 0) return
  const containers = await ctx.engine.api.listContainers({all: true})
  const inUse = new Set(containers.map((container) => container.ImageID))
  const elsewhere = await digestsOfOtherInstances(paths.dir, containers)
  if (!elsewhere) {
    ctx.reporter.warn('kept old images: the state of another agnes instance on this host could not be read.')
    return
  }

  for (const digest of candidates) {
    if (elsewhere.has(digest)) continue
    const reference = digestReference(state.repository, digest)
    const id = await ctx.engine.imageId(reference)
    if (id && !inUse.has(id)) await ctx.engine.removeImage(reference)
  }
}

/** The backups a rollback may need: those taken when a known-good deployment was left (the last switch's among them). */
function backupsNeeded(state: InstanceState): Array<string | undefined> {
  return [...state.knownGood.map((known) => known.backupBeforeLeaving), state.current?.backupBeforeLeaving]
}

/**
 * Everything that could make the switch fail before the new version starts, checked while the old one
 * keeps serving: the engine, the merged compose config, a hand edit of the managed compose file, the target
 * image on this host (pulled when allowed), room for the state backup. Nothing is stopped and no journal
 * is written until all of it holds.
 */
async function checkPlan(ctx: DeployContext, reference: string, options: SwitchOptions): Promise<void> {
  const {paths, state} = ctx.instance
  try {
    await ctx.engine.api.ping()
  } catch (error) {
    throw new DockerError(`the Docker engine does not answer (${(error as Error).message}); nothing was changed`, {hint: 'Check the engine (`docker info`) and re-run.'})
  }

  await checkComposeConfig(ctx)
  if (await isHandEdited(paths, state, paths.compose)) {
    throw new InvalidInputError('docker-compose.yml was edited by hand; agnes will not overwrite it, so nothing was changed', {
      hint: 'Move your changes to docker-compose.override.yml, then run `agnes init --force` to restore the managed file.',
    })
  }

  if (options.allowPull) await ensureImage(ctx, reference)
  if (!(await ctx.engine.imageId(reference))) {
    if (!options.allowPull) throw new NotFoundError(`the image ${reference} is not on this host and may not be pulled`, {hint: 'Pick a deployment listed by `agnes history`.'})
    throw new DockerError(`the image ${reference} is not on this host after the pull; nothing was changed`, {hint: 'Check the engine (`docker images --digests`) and re-run.'})
  }

  await checkBackupRoom(paths.backupsDir)
  await options.afterPull?.()
}

/**
 * Stopping the old version or backing it up failed (or was interrupted) before the new version started:
 * start the old version again and clear the journal, so nothing is left behind; the target is not judged.
 */
async function undoStop(ctx: DeployContext, journal: Journal, error: unknown, options: SwitchOptions): Promise<never> {
  const calm = {...ctx, signal: undefined}
  ctx.reporter.warn(`${ctx.signal?.aborted ? 'interrupted' : `stopping or backing up failed (${shortReason(error)})`} before ${describe(journal.to)} started; starting ${describe(journal.from)} again.`)
  try {
    await startDigest(calm, journal.from.repository, journal.from.digest, {healthTimeoutMs: rollbackHealthTimeoutMs(ctx.instance.state, journal.from.digest, options.healthTimeoutMs)})
  } catch (restartError) {
    journal.phase = 'rollback-failed'
    journal.reason = `${shortReason(error)}; starting the old version again failed: ${shortReason(restartError)}`
    await writeJournal(ctx.instance.paths, journal)
    throw new RollbackFailedError(`${shortReason(error)}, and starting ${describe(journal.from)} again failed: ${shortReason(restartError)}`, {
      hint: `A person is needed: see \`agnes status\`, \`agnes logs app --tail 100 --dir ${ctx.instance.paths.dir}\`, then \`agnes up\`.`,
    })
  }

  await clearJournal(ctx.instance.paths)
  if (ctx.signal?.aborted) throw new InterruptedError(`interrupted before the switch; ${describe(journal.from)} is running again`)
  throw error
}

/**
 * The post-health gate. A smoke failure while the engine stopped or restarted the app container (it was
 * healthy when the smoke test began) is the engine's, not the release's: EngineInterruptedError.
 */
export async function smokeGate(ctx: DeployContext, smoke: SmokeGate | undefined): Promise<void> {
  if (!smoke) return
  const watch = appContainerWatcher(ctx)
  await watch()
  ctx.reporter.progress('Running the smoke test…')
  const verdict = await smoke(ctx)
  if (verdict.passed) return
  const container = await watch()
  if (container.interrupted) throw new EngineInterruptedError(`the app container ${container.description} during the smoke test`)
  throw new SmokeFailedError(verdict)
}

const ENGINE_RETURN_WAIT_MS = 120_000

/** After the engine went away mid-gate: waits (bounded) until it answers again, so the way back can run. */
async function waitForEngine(ctx: DeployContext): Promise<void> {
  const until = Date.now() + ENGINE_RETURN_WAIT_MS
  for (let reported = false; ; reported = true) {
    try {
      await ctx.engine.api.ping()
      return
    } catch {
      if (Date.now() >= until) return
      if (!reported) ctx.reporter.progress(`Waiting up to ${ENGINE_RETURN_WAIT_MS / 1000} s for the Docker engine to answer again…`)
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  }
}

/**
 * Switches the instance from its current deployment to `target` with every safeguard: the whole plan is
 * checked (and the target pulled) while the old version keeps serving; it is stopped gracefully and its
 * state backed up; a journal makes a killed run recoverable; the target must pass the health gate and the
 * smoke gate; any failure switches back automatically.
 */
export async function switchVersion(ctx: DeployContext, target: JournalDeployment, options: SwitchOptions): Promise<SwitchOutcome> {
  const started = Date.now()
  const {paths, state} = ctx.instance
  const current = state.current
  if (!current) throw new NotFoundError('the instance has no recorded deployment yet', {hint: 'Run `agnes up` first.'})
  const from: JournalDeployment = {digest: current.digest, repository: current.repository, tag: current.tag, version: current.version}
  const reference = digestReference(target.repository, target.digest)

  await checkPlan(ctx, reference, options)
  const active = await ctx.compose.activeServices({signal: ctx.signal})
  const fromSchema = schemaOf(await fetchHealth(ctx.baseUrl, ctx.signal))

  const journal: Journal = {action: options.action, from, fromSchema, phase: 'stopping', pid: process.pid, startedAt: new Date().toISOString(), to: target}
  await writeJournal(paths, journal)
  try {
    ctx.reporter.progress(`Stopping ${describe(from)}…`)
    await ctx.compose.stop(IMAGE_SERVICES.filter((service) => active.includes(service)), {signal: ctx.signal})
    const oldApp = await appContainerId(ctx)
    if (oldApp) {
      const backup = await backupState(ctx.engine.api, oldApp, paths.backupsDir, from.digest.replace('sha256:', '').slice(0, 12))
      journal.backup = backup.file
      ctx.reporter.progress(`Backed up /data/state to ${backup.file}`)
    }
  } catch (error) {
    await undoStop(ctx, journal, error, options)
  }

  journal.phase = 'switching'
  await writeJournal(paths, journal)
  ctx.reporter.progress(`Starting ${describe(target)}…`)
  let seenSchema: number | string | undefined
  let bootMs = 0
  try {
    try {
      bootMs = (await startDigest(ctx, target.repository, target.digest, {healthTimeoutMs: options.healthTimeoutMs})).gate.elapsedMs
    } catch (error) {
      if (!options.restoreOnMismatch || lastSeenHealth(error)?.db_schema !== 'mismatch') throw error
      ctx.reporter.progress(`${describe(target)} finds the schema ahead of it; restoring ${options.restoreOnMismatch}…`)
      await stopImageServices(ctx)
      const id = await appContainerId(ctx)
      if (id) await restoreState(ctx.engine.api, id, options.restoreOnMismatch)
      bootMs = (await startDigest(ctx, target.repository, target.digest, {healthTimeoutMs: options.healthTimeoutMs})).gate.elapsedMs
    }

    seenSchema = schemaOf(await fetchHealth(ctx.baseUrl, ctx.signal))
    await smokeGate(ctx, options.smoke)
  } catch (error) {
    if (error instanceof EngineInterruptedError && !ctx.signal?.aborted) {
      await waitForEngine(ctx)
      return rollBack(ctx, journal, `${shortReason(error)}; it was not judged`, options, {reject: false, seenSchema: seenSchema ?? schemaOf(lastSeenHealth(error)), started})
    }

    if (!ctx.signal?.aborted) {
      return rollBack(ctx, journal, shortReason(error), options, {seenSchema: seenSchema ?? schemaOf(lastSeenHealth(error)), started})
    }

    // Interrupted (Ctrl-C, SIGTERM) mid-switch: put the old version back before exiting, without the aborted
    // signal; a second signal still stops agnes at once and the journal lets the next run finish.
    ctx.reporter.warn('interrupted during the switch; switching back first.')
    const outcome = await rollBack({...ctx, signal: undefined}, journal, 'interrupted', options, {reject: false, seenSchema, started})
    if (outcome.outcome === 'failed') {
      throw new RollbackFailedError(`interrupted, and switching back to ${describe(from)} failed: ${outcome.rollbackError}`, {
        hint: `A person is needed: the journal is kept; see \`agnes status\`, \`agnes logs app --tail 100 --dir ${paths.dir}\`, then \`agnes rollback\`.`,
        result: {from, outcome: outcome.outcome, rollbackMs: outcome.rollbackMs, to: target},
      })
    }

    throw new InterruptedError(`interrupted; ${describe(from)} is running again`, {result: {from, outcome: outcome.outcome, rollbackMs: outcome.rollbackMs, to: target}})
  }

  const deployedBefore = [from.digest, ...state.knownGood.map((known) => known.digest), ...state.rejected]
  const record = await recordDeployment(ctx, {digest: target.digest, repository: target.repository, tag: target.tag}, {bootMs})
  const previous = state.knownGood.find((known) => known.digest === from.digest)
  if (previous && journal.backup) previous.backupBeforeLeaving = journal.backup
  state.rejected = state.rejected.filter((digest) => digest !== target.digest)
  delete state.deferredSince
  options.onSuccess?.(state)
  await writeState(paths, state)
  await clearJournal(paths)
  const to = {...target, version: record.version}
  await appendHistory(paths, {action: options.action, durationMs: Date.now() - started, from, outcome: options.action === 'upgrade' ? 'upgraded' : 'succeeded', time: new Date().toISOString(), to})
  await pruneImages(ctx, deployedBefore).catch((error: unknown) => ctx.reporter.warn(`could not remove old images: ${shortReason(error)}`))
  await pruneBackups(paths.backupsDir, BACKUPS_KEPT, backupsNeeded(state)).catch((error: unknown) => ctx.reporter.warn(`could not prune old backups: ${shortReason(error)}`))
  return {backup: journal.backup, durationMs: Date.now() - started, from, outcome: 'upgraded', to}
}
