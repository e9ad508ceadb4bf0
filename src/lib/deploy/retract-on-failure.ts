import {Channel} from '../image-registry/versions.js'
import {Reporter} from '../ui/reporter.js'
import {appendHistory} from './history.js'
import {JournalDeployment} from './journal.js'
import {shortReason} from './outcome.js'
import {Retraction, retractDigest} from './retract.js'
import {DeploySession} from './session.js'

/**
 * The canary's part of the release path: after a rejected digest was rolled back, tag it `deprecated-<CalVer>`
 * and move the channel back to the digest that is running again. A failure (no push rights, say) is reported
 * in the alert, history and result; the rollback itself stands either way.
 */
export function retractOnFailure(session: DeploySession, channel: Channel, reporter: Reporter, record: (outcome: Retraction | {error: string}) => void) {
  return async (rejected: JournalDeployment, restored: JournalDeployment): Promise<string> => {
    const started = Date.now()
    const {paths, state} = session.instance
    const publisher = session.deps.openPublisher(state.repository)
    const entry = {action: 'retract' as const, from: {digest: rejected.digest}, time: new Date().toISOString(), to: {digest: restored.digest, tag: channel}}
    try {
      const retraction = await retractDigest({channel, digest: rejected.digest, good: restored.digest, publisher, registry: session.registry(), repository: state.repository})
      record(retraction)
      const moved = retraction.channelMovedTo ? `, ${channel} moved back to ${restored.digest.slice(0, 19)}…` : `; ${channel} no longer pointed at it and was left alone`
      reporter.progress(`Retracted ${retraction.version}: tagged ${retraction.deprecatedTag}${moved}.`)
      await appendHistory(paths, {...entry, durationMs: Date.now() - started, from: {digest: rejected.digest, version: retraction.version}, outcome: 'retracted'})
      return `Retracted ${retraction.version} in the registry: tagged ${retraction.deprecatedTag}${moved}.`
    } catch (error) {
      const reason = shortReason(error)
      record({error: reason})
      reporter.warn(`could not retract the rejected build in the registry: ${reason}`)
      await appendHistory(paths, {...entry, durationMs: Date.now() - started, outcome: 'retract-failed', reason})
      return `Retracting it in the registry failed: ${reason}.`
    }
  }
}
