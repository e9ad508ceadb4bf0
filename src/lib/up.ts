import {DeployContext, desiredTag, ensureImage, newRegistryClient, preflight, recordDeployment, resolveTag, startDigest} from './deploy.js'
import {digestReference} from './image-ref.js'
import {appendHistory} from './history.js'
import {withInstanceLock} from './instance-lock.js'

export interface UpResult {
  dir: string
  url: string
  project: string
  compose: string
  repository: string
  tag: string
  digest: string
  version?: string
  pulled: boolean
  changed: boolean
  healthyAfterMs: number
}

export function publicUrl(ctx: DeployContext): string {
  const {env, state} = ctx.instance
  const domain = env.get('DOMAIN')
  if (domain && state.tls !== 'none') return `https://${domain}`
  return `http://${domain ?? '127.0.0.1'}:${env.get('AGNES_HTTP_PORT') ?? '8000'}`
}

/**
 * Brings the recorded deployment up (or, on a first run or after init changed the version, the digest the
 * pin or channel resolves to now) and waits until the app itself says it is healthy. On a healthy
 * instance this changes nothing.
 */
export async function up(ctx: DeployContext, options: {healthTimeoutMs: number}): Promise<UpResult> {
  return withInstanceLock(ctx.instance, 'up', () => upLocked(ctx, options))
}

async function upLocked(ctx: DeployContext, options: {healthTimeoutMs: number}): Promise<UpResult> {
  const started = Date.now()
  const {state, paths} = ctx.instance
  for (const warning of await preflight(ctx)) ctx.reporter.warn(warning)

  const tag = desiredTag(state)
  const current = state.current
  let digest: string
  if (current && current.repository === state.repository && current.tag === tag) {
    digest = current.digest
  } else {
    ctx.reporter.progress(`Resolving ${state.repository}:${tag}…`)
    const registry = newRegistryClient(ctx.signal)
    try {
      digest = await resolveTag(registry, state.repository, tag, ctx.signal)
    } finally {
      await registry.close()
    }
  }

  const reference = digestReference(state.repository, digest)
  const pulled = await ensureImage(ctx, reference)
  ctx.reporter.progress(`Starting ${reference}…`)
  const switched = await startDigest(ctx, state.repository, digest, {healthTimeoutMs: options.healthTimeoutMs})
  const changed = pulled || switched.appRecreated || switched.composeChanged || current?.digest !== digest
  const record = await recordDeployment(ctx, {digest, repository: state.repository, tag})
  if (changed) {
    await appendHistory(paths, {
      action: 'up',
      durationMs: Date.now() - started,
      from: current ? {digest: current.digest, tag: current.tag, version: current.version} : undefined,
      outcome: 'deployed',
      time: new Date().toISOString(),
      to: {digest, tag, version: record.version},
    })
  }

  return {
    changed,
    compose: `${ctx.compose.command.argv.join(' ')} ${ctx.compose.command.version}`,
    digest,
    dir: paths.dir,
    healthyAfterMs: switched.gate.elapsedMs,
    project: state.project,
    pulled,
    repository: state.repository,
    tag,
    url: publicUrl(ctx),
    version: record.version,
  }
}
