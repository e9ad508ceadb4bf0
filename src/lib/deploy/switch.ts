import {pruneBackups} from '../backup/retention.js'
import {backupState, restoreState} from '../backup/snapshots.js'
import {InterruptedError, NotFoundError, RollbackFailedError, SmokeFailedError} from '../errors.js'
import {digestReference} from '../image-registry/image-ref.js'
import {writeState} from '../instance/state.js'
import {appContainerId, appContainerWatcher} from './app-container.js'
import {DeployContext} from './context.js'
import {EngineInterruptedError, fetchHealth, lastSeenHealth, schemaOf} from './health.js'
import {appendHistory} from './history.js'
import {JournalDeployment, SwitchJournal, clearJournal, writeJournal} from './journal.js'
import {SmokeGate, SwitchOptions, SwitchOutcome, describe, shortReason} from './outcome.js'
import {checkSwitchPlan} from './preflight.js'
import {BACKUPS_KEPT, backupsNeeded, pruneImages} from './prune.js'
import {IMAGE_SERVICES, recordDeployment, rollbackHealthTimeoutMs, startDigest, stopImageServices} from './start.js'
import {rollBack} from './switch-back.js'

/**
 * Stopping the old version or backing it up failed (or was interrupted) before the new version started:
 * start the old version again and clear the journal, so nothing is left behind; the target is not judged.
 */
async function undoStop(ctx: DeployContext, journal: SwitchJournal, error: unknown, options: SwitchOptions): Promise<never> {
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
export async function runSmokeGate(ctx: DeployContext, smoke: SmokeGate | undefined): Promise<void> {
  if (!smoke) return
  const watch = appContainerWatcher(ctx)
  await watch()
  ctx.reporter.progress('Running the smoke test…')
  const verdict = await smoke(ctx)
  if (verdict.passed) return
  const container = await watch()
  if (container.interrupted) throw new EngineInterruptedError(`the app container ${container.description} during the smoke test`)
  throw new SmokeFailedError(`the smoke test failed at step "${verdict.failedStep ?? 'unknown'}"${verdict.detail ? `: ${verdict.detail}` : ''}`)
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

  await checkSwitchPlan(ctx, reference, options)
  const active = await ctx.compose.activeServices({signal: ctx.signal})
  const fromSchema = schemaOf(await fetchHealth(ctx.baseUrl, ctx.signal))

  const journal: SwitchJournal = {action: options.action, from, fromSchema, phase: 'stopping', pid: process.pid, startedAt: new Date().toISOString(), to: target}
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
    await runSmokeGate(ctx, options.smoke)
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
