import {digestReference} from '../image-registry/image-ref.js'
import {isVersionTag} from '../image-registry/versions.js'
import {renderCompose, writeManagedFile} from '../instance/managed-files.js'
import {Deployment, InstanceState, writeState} from '../instance/state.js'
import {appBaseline, appContainerWatcher} from './app-container.js'
import {APP_SERVICE, DeployContext, KNOWN_GOOD_KEPT} from './context.js'
import {HealthGateResult, fetchVersion, waitForHealthy} from './health.js'

/** The services that run the Agnes image and so are stopped and switched together. */
export const IMAGE_SERVICES = ['scheduler', APP_SERVICE]

/** Makes sure the image is on this host; pulls it by digest when it is not. */
export async function ensureImage(ctx: DeployContext, reference: string): Promise<boolean> {
  if (await ctx.engine.imageId(reference)) return false
  await ctx.engine.pull(reference, ctx.reporter, ctx.signal)
  return true
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

export interface StartResult {
  gate: HealthGateResult
  composeChanged: boolean
  appRecreated: boolean
}

/**
 * Points the managed compose file at a digest and starts it: the app first, gated on its own health,
 * then the other services (scheduler, caddy, the operator's own) without waiting on compose's
 * dependency conditions again.
 */
export async function startDigest(ctx: DeployContext, repository: string, digest: string, options: {healthTimeoutMs: number}): Promise<StartResult> {
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
  await startOtherServices(ctx)
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

/** Starts the services other than the app (scheduler, caddy, the operator's own) that are not running. */
export async function startOtherServices(ctx: DeployContext): Promise<void> {
  const others = (await ctx.compose.activeServices({signal: ctx.signal})).filter((service) => service !== APP_SERVICE)
  if (others.length > 0) await ctx.compose.up(others, {noDeps: true, signal: ctx.signal})
}

export async function stopImageServices(ctx: DeployContext): Promise<void> {
  const active = await ctx.compose.activeServices({signal: ctx.signal})
  await ctx.compose.stop(IMAGE_SERVICES.filter((service) => active.includes(service)), {signal: ctx.signal})
}
