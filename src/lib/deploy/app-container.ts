import {ContainerState, ProjectContainer} from '../docker/engine.js'
import {APP_SERVICE, DeployContext} from './context.js'
import {ContainerVerdict} from './health.js'

/** Watching the app container: what it runs, and whether it crashed or was stopped during a gate. */

/** The app container and how often it had restarted, taken when a gate starts. */
export interface AppBaseline {
  id?: string
  restartCount: number
}

export async function appBaseline(ctx: DeployContext): Promise<AppBaseline> {
  const id = (await ctx.engine.projectContainers(ctx.instance.state.project, APP_SERVICE))[0]?.id
  return {id, restartCount: id ? ((await ctx.engine.containerState(id))?.restartCount ?? 0) : 0}
}

/** Restart policies under which the engine itself restarts a container that ended on its own. */
function restartsOnItsOwn(policy: {Name?: string; MaximumRetryCount?: number} | undefined, exitCode: number, restartCount: number): boolean {
  if (policy?.Name === 'always' || policy?.Name === 'unless-stopped') return true
  return policy?.Name === 'on-failure' && exitCode !== 0 && (!policy.MaximumRetryCount || restartCount < policy.MaximumRetryCount)
}

/** Exit codes of a process that was asked to stop: clean, or ended by SIGTERM / SIGKILL. */
const STOPPED_EXIT_CODES = new Set([0, 128 + 15, 128 + 9])

/**
 * Watches the app container during a health gate: an exit or a restart fails the gate at once. Restarts
 * count from the baseline: a long-running container's crashes of last month are not this gate's failure.
 * What the engine did rather than the release is reported as `interrupted` (the release is not judged):
 * the engine not answering; the container stopped by a signal although its restart policy would have
 * restarted a crash (the daemon shutting down, or a person's `docker stop`); the container started again
 * without a restart of its own (the daemon restarted and brought it back).
 */
export function appContainerWatcher(ctx: DeployContext, baseline: AppBaseline = {restartCount: 0}): () => Promise<ContainerVerdict> {
  let seen: {id: string; startedAt: string; restartCount: number} | undefined
  return async () => {
    let containers: ProjectContainer[]
    let state: ContainerState | undefined
    try {
      containers = await ctx.engine.projectContainers(ctx.instance.state.project, APP_SERVICE)
      if (containers.length === 0) return {description: 'does not exist', fatal: true}
      state = await ctx.engine.containerState(containers[0].id)
    } catch (error) {
      return {description: `could not be watched: the Docker engine stopped answering (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, fatal: true, interrupted: true}
    }

    if (!state) return {description: 'disappeared', fatal: true}
    const {id} = containers[0]
    if ((state.status === 'exited' || state.status === 'dead') && !state.restarting) {
      const inspected = STOPPED_EXIT_CODES.has(state.exitCode) ? await ctx.engine.api.getContainer(id).inspect().catch(() => undefined) : undefined
      if (inspected && !inspected.State?.OOMKilled && restartsOnItsOwn(inspected.HostConfig?.RestartPolicy, state.exitCode, state.restartCount)) {
        return {description: `was stopped from outside (exit ${state.exitCode}, no crash: its restart policy would have restarted one); the Docker engine restarted or someone stopped it`, fatal: true, interrupted: true}
      }
    }

    if (state.status === 'exited' || state.status === 'dead') {
      return {description: `exited with code ${state.exitCode}`, fatal: true, logTail: await ctx.engine.logTail(id)}
    }

    const restarts = state.restartCount - (id === baseline.id ? baseline.restartCount : 0)
    if (state.restarting || restarts > 0) {
      return {description: `is restarting (crashed ${restarts + (state.restarting ? 1 : 0)} time(s))`, fatal: true, logTail: await ctx.engine.logTail(id)}
    }

    if (seen?.id === id && state.startedAt !== seen.startedAt && state.restartCount === seen.restartCount) {
      return {description: 'was started again by the Docker engine (not by a crash): the engine restarted', fatal: true, interrupted: true}
    }

    if (state.running) seen = {id, restartCount: state.restartCount, startedAt: state.startedAt}
    return {description: state.status, fatal: false}
  }
}

/** The digest the project's app container runs (running or not), from its image's RepoDigests. */
export async function appImageDigest(ctx: DeployContext, repository: string): Promise<{digest?: string; running: boolean}> {
  const app = (await ctx.engine.projectContainers(ctx.instance.state.project, APP_SERVICE))[0]
  if (!app) return {running: false}
  const image = await ctx.engine.api.getImage(app.imageId).inspect().catch(() => undefined)
  const entry = (image?.RepoDigests ?? []).find((candidate) => candidate.startsWith(`${repository}@`))
  return {digest: entry?.slice(repository.length + 1), running: app.state === 'running'}
}

export async function appContainerId(ctx: DeployContext): Promise<string | undefined> {
  return (await ctx.engine.projectContainers(ctx.instance.state.project, APP_SERVICE))[0]?.id
}
