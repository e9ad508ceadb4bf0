import {statfs} from 'node:fs/promises'
import {createServer} from 'node:net'
import {basename} from 'node:path'

import {validateCaddyConfig} from '../docker/caddy-validate.js'
import {Compose, CommandRunner, detectCompose, execaRunner} from '../docker/compose.js'
import {ContainerState, DockerEngine, ProjectContainer} from '../docker/engine.js'
import {AgnesError, ExitCode, InvalidInputError} from '../errors.js'
import {ContainerVerdict, HealthGateResult, fetchVersion, waitForHealthy} from './health.js'
import {digestReference} from '../image-registry/image-ref.js'
import {isVersionTag} from '../image-registry/versions.js'
import {renderCompose, writeManagedFile} from '../instance/managed-files.js'
import {checkProjectOwnership} from '../instance/project.js'
import {InstancePaths} from '../instance/paths.js'
import {Deployment, Instance, InstanceState, instancePort, loadInstance, localBaseUrl, readTextIfExists, writeState} from '../instance/state.js'
import {createRegistryClient, RegistryClient} from '../image-registry/client.js'
import {Reporter} from '../ui/reporter.js'

export const APP_SERVICE = 'app'
/** How many good deployments are remembered (rollback targets whose images stay on disk). */
export const KNOWN_GOOD_KEPT = 5

export interface DeployContext {
  instance: Instance
  engine: DockerEngine
  compose: Compose
  reporter: Reporter
  signal?: AbortSignal
  baseUrl: string
}

/** Opens the engine and Compose for an instance; pass an already loaded Instance so its state stays one object. */
export async function openDeployContext(from: string | Instance, reporter: Reporter, signal?: AbortSignal, run: CommandRunner = execaRunner): Promise<DeployContext> {
  const instance = typeof from === 'string' ? await loadInstance(from) : from
  const engine = await DockerEngine.connect()
  await checkProjectOwnership(engine, instance, reporter)
  const command = await detectCompose(run)
  const compose = new Compose(command, {paths: instance.paths, profiles: composeProfiles(instance.state), project: instance.state.project}, run)
  return {baseUrl: localBaseUrl(instance.env), compose, engine, instance, reporter, signal}
}

export function composeProfiles(state: InstanceState): string[] {
  return state.tls === 'none' ? [] : ['tls']
}

/** The tag the instance should run: its pin, or its channel. */
export function desiredTag(state: InstanceState): string {
  return state.pin ?? state.channel
}

/** Resolves a tag to a digest once, through the registry API; everything after runs exactly that digest. */
export async function resolveTag(registry: RegistryClient, repository: string, tag: string, signal?: AbortSignal): Promise<string> {
  return (await registry.resolveDigest(repository, tag, {signal})).digest
}

export function newRegistryClient(signal?: AbortSignal): RegistryClient {
  return createRegistryClient({signal})
}

/** Bytes of a Docker memory size such as 4g or 512m. */
export function memoryBytes(value: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([kmg])b?$/i.exec(value ?? '')
  if (!match) return undefined
  return Number(match[1]) * {g: 1024 ** 3, k: 1024, m: 1024 ** 2}[match[2].toLowerCase() as 'g' | 'k' | 'm']
}

async function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}

/** Free space an image pull needs under the engine's root directory. */
export const MIN_FREE_DISK = 2 * 1024 ** 3

/** Checks that the instance can run here; returns warnings, throws what would make `up` fail anyway. */
export async function preflight(ctx: DeployContext): Promise<string[]> {
  const warnings: string[] = []
  const {env, state} = ctx.instance
  const info = await ctx.engine.info()
  const appLimit = memoryBytes(env.get('AGNES_APP_MEM_LIMIT'))
  if (appLimit && info.memTotal && appLimit > info.memTotal) {
    warnings.push(`AGNES_APP_MEM_LIMIT (${env.get('AGNES_APP_MEM_LIMIT')}) is more than the engine's memory (${(info.memTotal / 1024 ** 3).toFixed(1)} GiB).`)
  }

  try {
    const disk = await statfs(info.dockerRootDir)
    const free = disk.bavail * disk.bsize
    if (free < MIN_FREE_DISK) {
      throw new AgnesError('E_DISK_FULL', ExitCode.DOCKER, `only ${(free / 1024 ** 3).toFixed(1)} GiB free under ${info.dockerRootDir}; an image pull needs at least 2 GiB`, {
        hint: 'Free space (`docker image prune`, old logs) and re-run.',
      })
    }
  } catch (error) {
    if (error instanceof AgnesError) throw error
    // The engine's root directory is not visible from here (a remote engine): nothing to check.
  }

  const running = await ctx.engine.projectContainers(state.project, APP_SERVICE)
  const ours = running.some((container) => container.state === 'running')
  const port = instancePort(env)
  if (!ours && !(await portIsFree(port, env.get('AGNES_HTTP_BIND') ?? '0.0.0.0'))) {
    throw new InvalidInputError(`port ${port} is already in use on this host`, {hint: 'Stop what uses it, or choose another port with `agnes init --http-port <port>`.'})
  }

  await checkComposeConfig(ctx)
  return warnings
}

/**
 * Compose v2 reports a YAML error without naming the file, so agnes names it: the first compose file that does
 * not parse, with the parser's first line (never the file's content, which may hold secrets).
 */
async function unparsableComposeFile(paths: InstancePaths): Promise<string | undefined> {
  const YAML = await import('yaml')
  for (const file of [paths.compose, paths.override]) {
    const text = await readTextIfExists(file)
    if (text === undefined) continue
    const [problem] = YAML.parseDocument(text).errors
    if (problem) return `${basename(file)} is not valid YAML: ${problem.message.split('\n')[0]}`
  }

  return undefined
}

/** The merged compose config (managed file, override, .env) as Compose parses it, and with TLS the Caddy config as Caddy does; invalid is exit 3. */
export async function checkComposeConfig(ctx: DeployContext): Promise<void> {
  try {
    await ctx.compose.exec(['config', '-q'], {signal: ctx.signal})
  } catch (error) {
    const composeSaid = (error as Error).message.replace(/^`[^`]*` failed \(exit \d+\): /, '')
    throw new InvalidInputError(`the compose files are invalid: ${(await unparsableComposeFile(ctx.instance.paths)) ?? composeSaid}`, {
      hint: 'Fix docker-compose.override.yml or .env by hand, or run `agnes init --force` to restore docker-compose.yml.',
    })
  }

  // The Caddyfile and cert files are checked by Caddy itself before anything restarts.
  if (ctx.instance.state.tls !== 'none') await validateCaddyConfig(ctx.instance, ctx.compose, ctx.signal)
}

/** Makes sure the image is on this host; pulls it by digest when it is not. */
export async function ensureImage(ctx: DeployContext, reference: string): Promise<boolean> {
  if (await ctx.engine.imageId(reference)) return false
  await ctx.engine.pull(reference, ctx.reporter, ctx.signal)
  return true
}

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

/** The shortest health wait of a rollback: the way back never inherits a short --health-timeout. */
export const ROLLBACK_HEALTH_FLOOR_MS = 120_000

/**
 * How long a rollback waits for the version it goes back to: at least the boot time recorded for it (with
 * a margin), the floor, and the caller's own timeout.
 */
export function rollbackHealthTimeoutMs(state: InstanceState, digest: string, requestedMs: number): number {
  const bootMs = state.knownGood.find((known) => known.digest === digest)?.bootMs ?? (state.current?.digest === digest ? state.current.bootMs : undefined)
  return Math.max(requestedMs, ROLLBACK_HEALTH_FLOOR_MS, bootMs === undefined ? 0 : Math.ceil(bootMs * 2 + 30_000))
}

export interface SwitchResult {
  gate: HealthGateResult
  composeChanged: boolean
  appRecreated: boolean
}

/**
 * Points the managed compose file at a digest and starts it: the app first, gated on its own health,
 * then the other services (scheduler, caddy, the operator's own) without waiting on compose's
 * dependency conditions again.
 */
export async function startDigest(ctx: DeployContext, repository: string, digest: string, options: {healthTimeoutMs: number}): Promise<SwitchResult> {
  const {instance} = ctx
  const before = await appBaseline(ctx)
  const composeChanged = await writeManagedFile(instance.paths, instance.state, instance.paths.compose, await renderCompose(digestReference(repository, digest)))
  if (composeChanged) await writeState(instance.paths, instance.state)
  await ctx.compose.up([APP_SERVICE], {noDeps: true, signal: ctx.signal})
  const gate = await waitForHealthy({
    baseUrl: ctx.baseUrl,
    checkContainer: appContainerWatcher(ctx, before),
    reporter: ctx.reporter,
    signal: ctx.signal,
    timeoutMs: options.healthTimeoutMs,
  })
  const others = (await ctx.compose.activeServices({signal: ctx.signal})).filter((service) => service !== APP_SERVICE)
  if (others.length > 0) await ctx.compose.up(others, {noDeps: true, signal: ctx.signal})
  const after = (await ctx.engine.projectContainers(instance.state.project, APP_SERVICE))[0]?.id
  return {appRecreated: before.id !== after, composeChanged, gate}
}

/** Records a healthy deployment as current and as a known-good rollback target. */
export async function recordDeployment(ctx: DeployContext, deployment: Omit<Deployment, 'version' | 'deployedAt'>, gate?: {bootMs: number}): Promise<Deployment> {
  const version = await fetchVersion(ctx.baseUrl, ctx.signal)
  const {state} = ctx.instance
  const sameAsCurrent = state.current?.digest === deployment.digest
  const known = state.knownGood.find((entry) => entry.digest === deployment.digest)
  const record: Deployment = {
    ...known,
    ...deployment,
    deployedAt: sameAsCurrent && state.current ? state.current.deployedAt : new Date().toISOString(),
    ...(gate ? {bootMs: gate.bootMs} : {}),
    version: version?.version ?? known?.version,
    versionTag: version?.image_tag && isVersionTag(version.image_tag) ? version.image_tag : known?.versionTag,
  }
  state.current = record
  state.knownGood = [record, ...state.knownGood.filter((known) => known.digest !== record.digest)].slice(0, KNOWN_GOOD_KEPT)
  await writeState(ctx.instance.paths, state)
  return record
}
