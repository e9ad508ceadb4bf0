import {ConflictError} from '../errors.js'
import {digestReference} from '../image-registry/image-ref.js'
import {Deployment, instancePort} from '../instance/state.js'
import {DeployContext, desiredTag} from './context.js'
import {refuseDeprecated} from './deprecation.js'
import {appendHistory} from './history.js'
import {HttpsReadiness, waitForCaddyHttps} from './https-ready.js'
import {describe, throwIfFailed} from './outcome.js'
import {preflight} from './preflight.js'
import {RecoveryOutcome} from './recover.js'
import {DeploySession, SessionOptions, withDeploySession} from './session.js'
import {ensureImage, recordDeployment, startDigest} from './start.js'
import {switchVersion} from './switch.js'

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
  /** A journal of an interrupted switch that was finished first. */
  recovered?: RecoveryOutcome
  /** True when the running version changed through the gated switch (backup, gates, rollback). */
  switched: boolean
  /** With TLS: whether Caddy served HTTPS for the domain before up returned (not in time is a warning, exit 0). */
  https?: HttpsReadiness
}

export interface UpOptions extends SessionOptions {
  /** Deploy a digest that was rolled back before. */
  force: boolean
}

export function publicUrl(ctx: DeployContext): string {
  const {env, state} = ctx.instance
  const domain = env.get('DOMAIN')
  if (domain && state.tls !== 'none') return `https://${domain}`
  return `http://${domain ?? '127.0.0.1'}:${instancePort(env)}`
}

/** True when the recorded deployment is what the tag asks for (its channel tag, or the version tag it reports). */
function recordedFor(current: Deployment | undefined, repository: string, tag: string): current is Deployment {
  return current !== undefined && current.repository === repository && (current.tag === tag || current.versionTag === tag)
}

/**
 * Brings the instance up and waits until the app itself says it is healthy. A journal left by an
 * interrupted switch is finished first. The first deployment (nothing recorded) is a plain start; any
 * change of the running digest afterwards (a new pin or channel from `init`) goes through the gated switch
 * with backup and rollback, and a digest that was rolled back is refused without --force. With TLS it
 * then waits (bounded) until Caddy serves HTTPS, so the URL it prints works. On a healthy instance this
 * changes nothing.
 */
export async function up(options: UpOptions): Promise<UpResult> {
  // The preflight runs before the journal is finished: a host that cannot run the instance is refused first.
  return withDeploySession('up', {...options, recover: false}, async (session) => {
    const ctx = await session.context()
    for (const warning of await preflight(ctx)) ctx.reporter.warn(warning)
    return upLocked(session, ctx, await session.recover(), options)
  })
}

async function upLocked(session: DeploySession, ctx: DeployContext, recovered: RecoveryOutcome | undefined, options: UpOptions): Promise<UpResult> {
  const started = Date.now()
  const {state, paths} = ctx.instance

  const tag = desiredTag(state)
  const current = state.current
  let digest: string
  if (recordedFor(current, state.repository, tag)) {
    digest = current.digest
  } else {
    ctx.reporter.progress(`Resolving ${state.repository}:${tag}…`)
    digest = await session.resolve(tag)
  }

  if (state.rejected.includes(digest) && !options.force && current?.digest !== digest) {
    throw new ConflictError(`${tag} (${digest.slice(0, 19)}…) failed and was rolled back before; \`agnes up\` will not deploy it again`, {
      hint: `Pass --force to try it anyway, or choose another version with \`agnes pin <version>\` or \`agnes pin --channel ${state.channel}\`.`,
    })
  }

  if (current?.digest !== digest) await refuseDeprecated(session.registry(), {digest, repository: state.repository, tag}, {force: options.force, reporter: ctx.reporter, signal: options.signal})
  const base = {
    compose: `${ctx.compose.command.argv.join(' ')} ${ctx.compose.command.version}`,
    digest,
    dir: paths.dir,
    project: state.project,
    recovered,
    repository: state.repository,
    tag,
    url: publicUrl(ctx),
  }

  if (current && current.digest !== digest) {
    const outcome = await switchVersion(ctx, {digest, repository: state.repository, tag}, {
      action: 'up',
      alertWebhook: options.alertWebhook,
      allowPull: true,
      healthTimeoutMs: options.healthTimeoutMs,
      smoke: options.smoke,
    })
    throwIfFailed(outcome, {durationMs: Date.now() - started, from: outcome.from, outcome: outcome.outcome, reason: outcome.reason, rollbackMs: outcome.rollbackMs, to: outcome.to})
    ctx.reporter.progress(`Switched ${describe(outcome.from)} → ${describe(outcome.to)}.`)
    return {...base, changed: true, healthyAfterMs: state.current?.bootMs ?? 0, https: await waitForCaddyHttps(ctx, base.url), pulled: false, switched: true, version: state.current?.version}
  }

  const reference = digestReference(state.repository, digest)
  const pulled = await ensureImage(ctx, reference)
  ctx.reporter.progress(`Starting ${reference}…`)
  const switched = await startDigest(ctx, state.repository, digest, {healthTimeoutMs: options.healthTimeoutMs})
  const changed = pulled || switched.appRecreated || switched.composeChanged || current?.digest !== digest
  const record = await recordDeployment(ctx, {digest, repository: state.repository, tag}, switched.appRecreated ? {bootMs: switched.gate.elapsedMs} : undefined)
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

  return {...base, changed, healthyAfterMs: switched.gate.elapsedMs, https: await waitForCaddyHttps(ctx, base.url), pulled, switched: false, version: record.version}
}
