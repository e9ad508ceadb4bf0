import {APP_SERVICE, DeployContext} from '../deploy/context.js'
import {shortReason} from '../deploy/outcome.js'
import {checkComposeConfig} from '../deploy/preflight.js'
import {rollbackHealthTimeoutMs, startDigest} from '../deploy/start.js'
import {JournalDeployment, PauseAction, clearJournal, readJournal, writeJournal} from '../deploy/journal.js'
import {ConflictError, DockerError, NotFoundError, RollbackFailedError} from '../errors.js'
import {Deployment, Instance} from '../instance/state.js'
import {Reporter} from '../ui/reporter.js'
import {checkBackupRoom} from './retention.js'

export type OpenContext = (instance: Instance, reporter: Reporter, signal?: AbortSignal) => Promise<DeployContext>

/** The services that run the Agnes image and write `/data/state`: stopped together, as a switch does (deploy/switch.ts). */
const STATE_WRITERS = ['scheduler', APP_SERVICE]

/**
 * The deployment to start again after the state was copied, checked before the engine is opened: none yet
 * (run `agnes up`), or a switch that did not finish (its own recovery comes first).
 */
export async function recordedDeployment(instance: Instance): Promise<Deployment> {
  const journal = await readJournal(instance.paths)
  if (journal) {
    throw new ConflictError(`an interrupted ${journal.action} of this instance is not finished (${journal.phase}); nothing was changed`, {hint: 'Run `agnes up` (or the next `agnes upgrade`), which finishes it first, then re-run.'})
  }

  if (!instance.state.current) throw new NotFoundError('the instance has no recorded deployment yet', {hint: 'Run `agnes up` first.'})
  return instance.state.current
}

/**
 * Everything else that could make a manual backup or a restore fail before the app stops, checked while it
 * keeps serving: the engine, the compose config, room for a backup and an app container holding the state.
 */
export async function checkPausePlan(ctx: DeployContext): Promise<void> {
  try {
    await ctx.engine.api.ping()
  } catch (error) {
    throw new DockerError(`the Docker engine does not answer (${(error as Error).message}); nothing was changed`, {hint: 'Check the engine (`docker info`) and re-run.'})
  }

  await checkComposeConfig(ctx)
  await checkBackupRoom(ctx.instance.paths.backupsDir)
  await appContainerId(ctx)
}

export async function appContainerId(ctx: DeployContext): Promise<string> {
  const id = (await ctx.engine.projectContainers(ctx.instance.state.project, APP_SERVICE))[0]?.id
  if (!id) throw new NotFoundError('the instance has no app container holding its state', {hint: 'Run `agnes up` first.'})
  return id
}

/**
 * Records in the journal that `action` is about to stop the app, then stops it: a run killed while the app is
 * stopped leaves the journal, and the next `up` or `upgrade` starts the app again (src/lib/backup/recover-pause.ts).
 */
export async function pauseApp(ctx: DeployContext, action: PauseAction, current: Deployment): Promise<void> {
  const deployment: JournalDeployment = {digest: current.digest, repository: current.repository, tag: current.tag, version: current.version}
  await writeJournal(ctx.instance.paths, {action, from: deployment, phase: 'paused', pid: process.pid, startedAt: new Date().toISOString(), to: deployment})
  await stopStateWriters(ctx)
}

/** Stops the state writers gracefully (compose stop honours their stop_grace_period). */
export async function stopStateWriters(ctx: DeployContext): Promise<void> {
  const active = await ctx.compose.activeServices({signal: ctx.signal})
  await ctx.compose.stop(STATE_WRITERS.filter((service) => active.includes(service)), {signal: ctx.signal})
}

/** Starts the recorded deployment again behind the deploy health gate, then clears the journal; returns the boot time. */
export async function startAgain(ctx: DeployContext, current: Pick<Deployment, 'repository' | 'digest'>, healthTimeoutMs: number): Promise<number> {
  const {gate} = await startDigest(ctx, current.repository, current.digest, {healthTimeoutMs})
  await clearJournal(ctx.instance.paths)
  return gate.elapsedMs
}

/**
 * Brings the app back after `failure` while it was stopped, without the aborted signal of an interrupted
 * run, so the app is never left stopped; `repair` runs first (putting the replaced state back). A failure
 * to start again is exit 11: a person is needed, and the journal stays for the next run.
 */
export async function recoverStopped(ctx: DeployContext, current: Pick<Deployment, 'repository' | 'digest'>, healthTimeoutMs: number, failure: unknown, repair?: (calm: DeployContext) => Promise<void>): Promise<void> {
  const calm = {...ctx, signal: undefined}
  try {
    if (repair) {
      await stopStateWriters(calm)
      await repair(calm)
    }

    await startAgain(calm, current, rollbackHealthTimeoutMs(ctx.instance.state, current.digest, healthTimeoutMs))
  } catch (restartError) {
    throw new RollbackFailedError(`${shortReason(failure)}, and starting the app again failed: ${shortReason(restartError)}`, {
      hint: `A person is needed: see \`agnes status\`, \`agnes logs app --tail 100 --dir ${ctx.instance.paths.dir}\`, then \`agnes up\`.`,
    })
  }
}
