import {TryLaterError} from './errors.js'
import {Instance} from './instance/state.js'
import {acquireLock, readLock} from './lock.js'

/** Takes the instance lock or reports `locked` (exit 75) at once, changing nothing. */
export async function withInstanceLock<T>(instance: Instance, command: string, work: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(instance.paths.lockFile, {command})
  if (!lock) {
    const holder = await readLock(instance.paths.lockFile)
    const who = holder ? `pid ${holder.pid} (${holder.command}) since ${holder.startedAt}` : 'another agnes run'
    throw new TryLaterError('E_LOCKED', `the instance is locked by ${who}`, {
      hint: 'Another agnes run is changing this instance; try again when it ends.',
      result: {message: `locked by ${who}`, outcome: 'locked'},
    })
  }

  try {
    return await work()
  } finally {
    await lock.release()
  }
}
