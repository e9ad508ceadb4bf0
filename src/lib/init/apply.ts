import {access, chmod, constants, mkdir, rmdir, stat} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'

import {InvalidInputError} from '../errors.js'
import {writeFileAtomic} from '../fs-atomic.js'
import {managedKey, sha256} from '../instance/managed-files.js'
import {instancePaths} from '../instance/paths.js'
import {takeInstanceLock} from '../instance/lock.js'
import {writeState} from '../instance/state.js'
import type {InitPlan} from './types.js'

/** Checks the directory can hold an instance: it is a directory (or can be made) and is writable. */
async function checkDirectoryWritable(dir: string): Promise<void> {
  const root = resolve(dir)
  try {
    const info = await stat(root)
    if (!info.isDirectory()) throw new InvalidInputError(`${root} exists and is not a directory`, {hint: 'Pass --dir with a directory path.'})
    await access(root, constants.W_OK)
  } catch (error) {
    if (error instanceof InvalidInputError) throw error
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      try {
        await mkdir(root, {recursive: true})
        return
      } catch (mkdirError) {
        throw new InvalidInputError(`cannot create ${root}: ${(mkdirError as NodeJS.ErrnoException).code}`, {hint: 'Choose a directory you can write to, or run as a user who can.'})
      }
    }

    throw new InvalidInputError(`${root} is not writable (${code})`, {hint: 'Choose a directory you can write to, or run as a user who can.'})
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/**
 * Runs init's work under the instance lock, so init never writes while an upgrade (or another init) runs.
 * The directory and `.agnes/` are created for the lock; when the work fails, the directories that were
 * new are removed again if they are still empty, so a refused init leaves nothing behind.
 */
export async function withInitLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const paths = instancePaths(dir)
  // Deepest first: the directories that do not exist yet and are about to be created.
  const created: string[] = []
  for (let path = paths.agnesDir; !(await pathExists(path)) && path !== dirname(path); path = dirname(path)) created.push(path)
  await checkDirectoryWritable(paths.dir)
  const lock = await takeInstanceLock(paths, 'init')

  let result: T
  try {
    result = await work()
  } catch (error) {
    await lock.release()
    // rmdir removes only empty directories: anything a person or an earlier run put there stays.
    for (const path of created) await rmdir(path).catch(() => undefined)
    throw error
  }

  await lock.release()
  return result
}

/** Writes the plan: every file atomically, then the state that records the managed files' hashes. */
export async function applyInit(plan: InitPlan): Promise<void> {
  const paths = instancePaths(plan.dir)
  await mkdir(paths.agnesDir, {mode: 0o700, recursive: true})
  for (const file of plan.files) {
    if (file.action === 'keep') continue
    const target = join(paths.dir, file.path)
    if (file.action === 'unchanged') await chmod(target, file.mode)
    else await writeFileAtomic(target, file.content, file.mode)
    if (file.path === managedKey(paths, paths.compose) || file.path === managedKey(paths, paths.caddyfile)) {
      plan.state.managedFiles[file.path] = sha256(file.content)
    }
  }

  await writeState(paths, plan.state)
}
