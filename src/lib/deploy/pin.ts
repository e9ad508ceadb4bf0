import {InstanceState, writeState} from '../instance/state.js'
import {Channel, validateVersionTag} from '../image-registry/versions.js'
import {refuseDeprecated} from './deprecation.js'
import {appendHistory} from './history.js'
import {describe, throwIfFailed} from './outcome.js'
import {SessionOptions, withDeploySession} from './session.js'
import {switchVersion} from './switch.js'

export interface PinResult {
  outcome: 'pinned' | 'following'
  pin?: string
  channel: Channel
  changed: boolean
  from?: {digest: string; version?: string; tag?: string}
  to: {digest: string; version?: string; tag?: string}
  durationMs: number
  message: string
}

export interface PinOptions extends SessionOptions {
  /** Pin to this version; or, with `channel`, unpin and follow that channel. */
  version?: string
  channel?: Channel
  /** Deploy the version even if the publisher marked it deprecated. */
  force?: boolean
}

/**
 * `agnes pin <version>`: check the version exists, resolve its digest and switch to it with the same gates
 * and automatic rollback as an upgrade; afterwards `upgrade` leaves the instance alone. With a channel it
 * unpins and follows that channel again, switching at once when the digests differ.
 */
export async function pin(options: PinOptions): Promise<PinResult> {
  const started = Date.now()
  if (options.version) validateVersionTag(options.version)
  return withDeploySession(options.version ? 'pin' : 'unpin', options, async (session) => {
    const {instance} = session
    const {paths, state} = instance
    const tag = options.version ?? options.channel ?? state.channel
    options.reporter.progress(`Resolving ${state.repository}:${tag}…`)
    const digest = await session.resolve(tag)

    const following = (next: InstanceState) => {
      if (options.version) next.pin = options.version
      else {
        delete next.pin
        next.channel = options.channel ?? next.channel
      }

      next.rejected = next.rejected.filter((rejected) => rejected !== digest)
    }

    const result = (changed: boolean, from?: PinResult['from'], to: PinResult['to'] = {digest, tag}): PinResult => ({
      changed,
      channel: state.channel,
      durationMs: Date.now() - started,
      from,
      message: `${changed ? `switched to ${describe({...to, repository: state.repository})}; ` : ''}${options.version ? `pinned to ${options.version}` : `following the ${state.channel} channel`}${changed ? '.' : '; the running version already matches.'}`,
      outcome: options.version ? 'pinned' : 'following',
      pin: state.pin,
      to,
    })

    const running = await session.deps.runningApp(instance)
    if ((running.digest ?? state.current?.digest) === digest) {
      following(state)
      await writeState(paths, state)
      await appendHistory(paths, {action: options.version ? 'pin' : 'unpin', durationMs: Date.now() - started, outcome: options.version ? 'pinned' : 'following', time: new Date().toISOString(), to: {digest, tag}})
      return result(false)
    }

    await refuseDeprecated(session.registry(), {digest, repository: state.repository, tag}, {force: options.force ?? false, reporter: options.reporter, signal: options.signal})
    const outcome = await switchVersion(await session.context(), {digest, repository: state.repository, tag}, {
      action: options.version ? 'pin' : 'unpin',
      alertWebhook: options.alertWebhook,
      allowPull: true,
      healthTimeoutMs: options.healthTimeoutMs,
      onSuccess: following,
      smoke: options.smoke,
    })
    throwIfFailed(outcome, {durationMs: Date.now() - started, from: outcome.from, outcome: outcome.outcome, reason: outcome.reason, rollbackMs: outcome.rollbackMs, to: outcome.to})
    return result(true, outcome.from, outcome.to)
  })
}
