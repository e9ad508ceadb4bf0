import {existsSync} from 'node:fs'

import {LockedError} from '../errors.js'
import {InstancePaths, instancePaths} from './paths.js'
import {assertInstancePathsSafe} from './safe-path.js'
import {Instance, loadInstance} from './state.js'
import {LockHandle, acquireLock, readLock} from './lock-file.js'

/**
 * Takes the instance lock, refusing first a managed path that is a link (the lock file among them). A held
 * lock is `locked` (exit 75) at once, changing nothing.
 */
export async function takeInstanceLock(paths: InstancePaths, command: string): Promise<LockHandle> {
  await assertInstancePathsSafe(paths)
  const lock = await acquireLock(paths.lockFile, {command})
  if (lock) return lock
  const holder = await readLock(paths.lockFile)
  const who = holder ? `pid ${holder.pid} (${holder.command}) since ${holder.startedAt}` : 'another agnes run'
  throw new LockedError(`the instance is locked by ${who}`, {
    hint: 'Another agnes run is changing this instance; try again when it ends.',
    result: {message: `locked by ${who}`, outcome: 'locked'},
  })
}

/**
 * Takes the instance lock, then loads the instance, so the state a run works on is the state no other run
 * is changing. A second run reports `locked` (exit 75) at once, changing nothing. A directory that is not
 * an instance is refused before the lock would create `.agnes/` in it.
 */
export async function withLockedInstance<T>(dir: string, command: string, work: (instance: Instance) => Promise<T>): Promise<T> {
  const paths = instancePaths(dir)
  if (!existsSync(paths.stateFile)) await loadInstance(dir)
  const lock = await takeInstanceLock(paths, command)
  try {
    return await work(await loadInstance(dir))
  } finally {
    await lock.release()
  }
}
