import {DeployContext, openDeployContext} from '../deploy.js'
import {runningAppDigest} from '../docker/socket.js'
import {appendHistory} from '../history.js'
import {loadInstance, writeState} from '../instance/state.js'
import {createRegistryClient} from '../registry.js'
import {Reporter} from '../reporter.js'
import {Channel, validateVersionTag} from '../versions.js'
import {readJournal} from './journal.js'
import {describe, switchVersion} from './switch.js'
import {CommonSwitchOptions, recoverFromJournal, throwIfFailed} from './upgrade.js'
import {withInstanceLock} from '../instance-lock.js'

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

export interface PinOptions extends CommonSwitchOptions {
  dir: string
  reporter: Reporter
  signal?: AbortSignal
  /** Pin to this version; or, with `channel`, unpin and follow that channel. */
  version?: string
  channel?: Channel
}

/**
 * `agnes pin <version>`: check the version exists, resolve its digest and switch to it with the same gates
 * and automatic rollback as an upgrade; afterwards `upgrade` leaves the instance alone. With a channel it
 * unpins and follows that channel again, switching at once when the digests differ.
 */
export async function pin(options: PinOptions): Promise<PinResult> {
  const started = Date.now()
  if (options.version) validateVersionTag(options.version)
  const instance = await loadInstance(options.dir)
  return withInstanceLock(instance, options.version ? 'pin' : 'unpin', async () => {
    const {paths, state} = instance
    let ctx: DeployContext | undefined
    const context = async () => (ctx ??= await openDeployContext(instance, options.reporter, options.signal))
    const journal = await readJournal(paths)
    if (journal) await recoverFromJournal(await context(), journal, options)

    const tag = options.version ?? options.channel ?? state.channel
    const registry = createRegistryClient({signal: options.signal})
    let digest: string
    try {
      options.reporter.progress(`Resolving ${state.repository}:${tag}…`)
      digest = (await registry.resolveDigest(state.repository, tag, {signal: options.signal})).digest
    } finally {
      await registry.close()
    }

    const settle = async (changed: boolean, from?: PinResult['from'], to: PinResult['to'] = {digest, tag}): Promise<PinResult> => {
      if (options.version) state.pin = options.version
      else {
        delete state.pin
        state.channel = options.channel ?? state.channel
      }

      state.rejected = state.rejected.filter((rejected) => rejected !== digest)
      await writeState(paths, state)
      if (!changed) {
        await appendHistory(paths, {action: options.version ? 'pin' : 'unpin', durationMs: Date.now() - started, outcome: options.version ? 'pinned' : 'following', time: new Date().toISOString(), to})
      }

      const following = options.version ? `pinned to ${options.version}` : `following the ${state.channel} channel`
      return {
        changed,
        channel: state.channel,
        durationMs: Date.now() - started,
        from,
        message: changed ? `switched to ${describe({...to, repository: state.repository})}; ${following}.` : `${following}; the running version already matches.`,
        outcome: options.version ? 'pinned' : 'following',
        pin: state.pin,
        to,
      }
    }

    const running = await runningAppDigest(state.project, state.repository)
    if ((running.digest ?? state.current?.digest) === digest) return settle(false)

    const outcome = await switchVersion(await context(), {digest, repository: state.repository, tag}, {
      action: options.version ? 'pin' : 'unpin',
      alertWebhook: options.alertWebhook,
      allowPull: true,
      healthTimeoutMs: options.healthTimeoutMs,
      smoke: options.smoke,
    })
    throwIfFailed(outcome, {durationMs: Date.now() - started, from: outcome.from, outcome: outcome.outcome, reason: outcome.reason, to: outcome.to})
    return settle(true, outcome.from, outcome.to)
  })
}
