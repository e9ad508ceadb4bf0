import {appendHistory} from '../deploy/history.js'
import {InvalidInputError} from '../errors.js'
import {withLockedInstance} from '../instance/lock.js'
import {writeState} from '../instance/state.js'

export interface RejectResult {
  dir: string
  digest: string
  /** False when the digest was already rejected here (nothing changed). */
  changed: boolean
  /** The digest runs here now: `agnes rollback` goes back to the last known-good version. */
  running: boolean
  reason?: string
  message: string
}

const DIGEST = /^sha256:[0-9a-f]{64}$/

/**
 * Adds a digest to the instance's rejected list, as a rolled-back upgrade does (src/lib/deploy/switch-back.ts),
 * so no `agnes upgrade` applies it unless --force. The instance keeps running whatever it runs. The reason
 * goes to a `reject` history entry: the rejected list stays plain digests for everything that reads it.
 */
export async function rejectDigest(dir: string, digest: string, reason?: string): Promise<RejectResult> {
  if (!DIGEST.test(digest)) {
    throw new InvalidInputError(`"${digest.slice(0, 80)}" is not an image digest`, {hint: 'Pass the full digest, sha256: and 64 hex digits (`agnes status --json` and `agnes history` show them).'})
  }

  return withLockedInstance(dir, 'reject', async ({paths, state}) => {
    const running = state.current?.digest === digest
    const base = {digest, dir: paths.dir, reason, running}
    const advice = running ? ' It runs here now: `agnes rollback` goes back to the last known-good version.' : ''
    if (state.rejected.includes(digest)) return {...base, changed: false, message: `${digest.slice(0, 19)}… was already rejected here.${advice}`}
    await writeState(paths, {...state, rejected: [...state.rejected, digest]})
    await appendHistory(paths, {action: 'reject', durationMs: 0, outcome: 'rejected', reason, time: new Date().toISOString(), to: {digest}})
    return {...base, changed: true, message: `${digest.slice(0, 19)}… is rejected: \`agnes upgrade\` will not apply it (unless --force).${advice}`}
  })
}
