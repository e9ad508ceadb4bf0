import {InvalidInputError, NotFoundError} from '../errors.js'
import {digestReference, isDigest} from '../image-registry/image-ref.js'
import {Channel, isVersionTag, parseVersionTag} from '../image-registry/versions.js'
import {Deployment, InstanceState} from '../instance/state.js'
import {describe, throwIfFailed} from './outcome.js'
import type {Retraction} from './retract.js'
import {retractOnFailure} from './retract-on-failure.js'
import {DeploySession, SessionOptions, withDeploySession} from './session.js'
import {switchVersion} from './switch.js'

export interface RollbackOptions extends SessionOptions {
  /** A version tag or a digest; default the last known-good deployment before the current one. */
  to?: string
  /**
   * Also retract the version left behind in the registry (the canary's verdict after its soak, src/lib/fleet/rollout.ts):
   * tagged deprecated-<version>, its channel moved back to what runs now. Needs push rights; a failure is reported,
   * the rollback stands.
   */
  retract?: boolean
}

export interface RollbackResult {
  outcome: 'rolled-back'
  from: {digest: string; version?: string; tag?: string}
  to: {digest: string; version?: string; tag?: string}
  fromLocalImage: boolean
  rejected: string
  /** The pin after the rollback (null: following the channel). */
  pin: string | null
  durationMs: number
  message: string
  /** `--retract`: what changed in the registry, or why nothing could. */
  retraction?: Retraction | {error: string}
}

/** `--to` is checked before anything is locked or read: a version tag or a digest, nothing else. */
function validateRollbackTarget(to: string): void {
  const wanted = to.trim()
  if (isDigest(wanted) || isVersionTag(wanted)) return
  throw new InvalidInputError(`--to: "${wanted}" is neither a version tag nor a digest`, {
    hint: 'Name a version tag such as stable-2026.04.3 or a digest (sha256:…); `agnes history` lists the deployments.',
  })
}

async function findTarget(session: DeploySession, wantedTarget: string | undefined, current: Deployment): Promise<{target: Deployment; allowPull: boolean}> {
  const {knownGood, rejected, repository} = session.instance.state
  const earlier = knownGood.filter((deployment) => deployment.digest !== current.digest && !rejected.includes(deployment.digest))
  if (!wantedTarget) {
    if (earlier.length === 0) throw new NotFoundError('there is no earlier known-good deployment to roll back to', {hint: 'See `agnes history`; `agnes pin <version>` switches to any published version.'})
    return {allowPull: false, target: earlier[0]}
  }

  const wanted = wantedTarget.trim()
  const known = knownGood.find((deployment) => deployment.digest === wanted || deployment.tag === wanted || deployment.versionTag === wanted)
  if (known) return {allowPull: false, target: known}
  if (isDigest(wanted)) return {allowPull: true, target: {deployedAt: '', digest: wanted, repository}}
  return {allowPull: true, target: {deployedAt: '', digest: await session.resolve(wanted), repository, tag: wanted}}
}

/** The channel a deployment belongs to, for its retraction: its version tag's, else the one the instance follows. */
function channelOf(deployment: Deployment, following: Channel): Channel {
  return parseVersionTag(deployment.versionTag ?? deployment.tag ?? '')?.channel ?? following
}

/**
 * What a pin becomes after a rollback, so that the pin names what runs: the target's version tag when it is
 * known, else no pin (the instance follows its channel again; the version left is rejected, so cron does
 * not return to it).
 */
export function pinAfterRollback(state: Pick<InstanceState, 'pin'>, target: Pick<Deployment, 'tag' | 'versionTag'>): string | undefined {
  if (state.pin === undefined) return undefined
  return target.versionTag ?? (target.tag && isVersionTag(target.tag) ? target.tag : undefined)
}

/**
 * `agnes rollback`: back to the last known-good deployment (or the one named) from the local image when
 * the registry no longer has it, restoring the state backup taken when that deployment was left if the
 * schema is ahead of it; same health gate. The digest left behind is not applied again by cron, and a pin
 * moves with the rollback (pinAfterRollback).
 */
export async function rollback(options: RollbackOptions): Promise<RollbackResult> {
  const started = Date.now()
  if (options.to !== undefined) validateRollbackTarget(options.to)
  return withDeploySession('rollback', options, async (session) => {
    const {state} = session.instance
    const ctx = await session.context()
    const current = state.current
    if (!current) throw new NotFoundError('the instance has no recorded deployment yet', {hint: 'Run `agnes up` first.'})
    const {allowPull, target} = await findTarget(session, options.to, current)
    const local = Boolean(await ctx.engine.imageId(digestReference(target.repository, target.digest)))
    const pinBefore = state.pin
    const outcome = await switchVersion(ctx, {digest: target.digest, repository: target.repository, tag: target.tag, version: target.version}, {
      action: 'rollback',
      alertWebhook: options.alertWebhook,
      allowPull: allowPull || !local,
      healthTimeoutMs: options.healthTimeoutMs,
      onSuccess(next) {
        if (!next.rejected.includes(current.digest)) next.rejected.push(current.digest)
        const pin = pinAfterRollback(next, next.current ?? target)
        if (pin) next.pin = pin
        else delete next.pin
      },
      restoreOnMismatch: target.backupBeforeLeaving,
      smoke: options.smoke,
    })
    throwIfFailed(outcome, {durationMs: Date.now() - started, from: outcome.from, outcome: outcome.outcome, reason: outcome.reason, rollbackMs: outcome.rollbackMs, to: outcome.to})
    let retraction: RollbackResult['retraction']
    const retracted = options.retract ? await retractOnFailure(session, channelOf(current, state.channel), options.reporter, (answer) => (retraction = answer))(outcome.from, outcome.to) : undefined
    const pinNote = pinBefore === state.pin ? '' : state.pin ? `; the pin moved from ${pinBefore} to ${state.pin}` : `; the pin to ${pinBefore} was removed, following the ${state.channel} channel`
    return {
      durationMs: Date.now() - started,
      from: outcome.from,
      fromLocalImage: local,
      message: `rolled back ${describe(outcome.from)} → ${describe(outcome.to)}${pinNote}; ${describe(outcome.from)} will not be applied again by \`agnes upgrade\` (use --force or \`agnes pin\`).${retracted ? ` ${retracted}` : ''}`,
      outcome: 'rolled-back',
      pin: state.pin ?? null,
      rejected: current.digest,
      to: outcome.to,
      ...(retraction ? {retraction} : {}),
    }
  })
}
