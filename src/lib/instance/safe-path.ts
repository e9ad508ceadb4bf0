import {Stats, constants, realpathSync, statSync} from 'node:fs'
import {lstat, open, readdir, readlink} from 'node:fs/promises'
import {basename, dirname, join, parse, resolve, sep} from 'node:path'

import {InvalidInputError, UnsafePathError} from '../errors.js'
import type {InstancePaths} from './paths.js'

/**
 * The instance directory is not a doorway. Root's cron runs agnes, so a managed path that is a symbolic
 * link would make it read, write or chmod whatever the link points at. The instance directory itself may
 * be reached through a link (/opt/agnes -> /srv/agnes): it is resolved once to its real path, and below
 * that no path agnes reads or writes may be a link.
 */

export type PathKind = 'file' | 'directory'

/** The real path of an instance directory (a missing tail is kept as given); a file on the way is an input error. */
export function resolveInstanceDir(dir: string): string {
  const absolute = resolve(dir)
  const missing: string[] = []
  let current = absolute
  for (;;) {
    let real: string
    try {
      real = realpathSync.native(current)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(current) !== current) {
        missing.unshift(basename(current))
        current = dirname(current)
        continue
      }

      throw new InvalidInputError(`cannot use the instance directory ${absolute}: ${code ?? (error as Error).message}`, {hint: INSTANCE_DIR_HINT})
    }

    if (!statSync(real).isDirectory()) {
      const where = current === absolute ? `${absolute} is a file` : `${absolute} lies under ${current}, which is a file`
      throw new InvalidInputError(`the instance directory must be a directory, but ${where}`, {hint: INSTANCE_DIR_HINT})
    }

    return join(real, ...missing)
  }
}

const INSTANCE_DIR_HINT = 'Pass --dir (or AGNES_DIR) with a directory path; `agnes init` creates it when it does not exist.'

/**
 * Refuses a path of which any part is a symbolic link, or whose existing parts are not the kind agnes needs
 * (directories on the way, `expected` at the end). A missing tail is fine: agnes creates it. Check with
 * lstat, so a link is seen as a link and never followed.
 */
export async function assertSafePath(path: string, expected: PathKind = 'file'): Promise<void> {
  const absolute = resolve(path)
  const {root} = parse(absolute)
  const parts = absolute.slice(root.length).split(sep).filter((part) => part !== '')
  let current = root
  for (const [index, part] of parts.entries()) {
    current = join(current, part)
    let info: Stats
    try {
      info = await lstat(current)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
      throw error
    }

    if (info.isSymbolicLink()) throw await symlinkError(current)
    checkKind(current, info, index === parts.length - 1 ? expected : 'directory')
  }
}

function checkKind(path: string, info: Stats, expected: PathKind): void {
  if (expected === 'directory' && !info.isDirectory()) {
    throw new InvalidInputError(`${path} is ${describeKind(info)}, but agnes needs a directory there`, {
      hint: `Move ${path} out of the way (agnes creates the directory), then re-run.`,
    })
  }

  if (expected === 'file' && !info.isFile()) {
    throw new InvalidInputError(`${path} is ${describeKind(info)}, but agnes needs a regular file there`, {
      hint: `Move ${path} out of the way, then re-run (\`agnes init\` recreates what it needs).`,
    })
  }
}

function describeKind(info: Stats): string {
  if (info.isDirectory()) return 'a directory'
  if (info.isFile()) return 'a file'
  if (info.isFIFO()) return 'a named pipe'
  if (info.isSocket()) return 'a socket'
  return 'a device'
}

async function symlinkError(path: string): Promise<UnsafePathError> {
  const target = await readlink(path).catch(() => undefined)
  return new UnsafePathError(path, target)
}

/** Reads a text file without following a link at any part of its path; undefined when it does not exist. */
export async function readTextNoFollow(path: string): Promise<string | undefined> {
  await assertSafePath(path, 'file')
  let handle
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    // The path became a link between the check and the open.
    if (code === 'ELOOP') throw await symlinkError(path)
    throw error
  }

  try {
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

/**
 * Checks every managed path of an instance at once, before a command reads or changes anything: each file
 * and directory of InstancePaths, and every entry of `.agnes/` and its backups.
 */
export async function assertInstancePathsSafe(paths: InstancePaths): Promise<void> {
  await assertSafePath(paths.dir, 'directory')
  for (const directory of [paths.configDir, paths.agnesDir, paths.backupsDir]) await assertSafePath(directory, 'directory')
  const files = [paths.env, paths.compose, paths.override, paths.caddyfile, paths.instanceYaml, paths.stateFile, paths.secretsFile, paths.historyFile, paths.lockFile, paths.journalFile]
  for (const file of files) await assertSafePath(file, 'file')
  for (const directory of [paths.agnesDir, paths.backupsDir]) {
    const entries = await readdir(directory, {withFileTypes: true}).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return []
      throw error
    })
    for (const entry of entries) if (entry.isSymbolicLink()) throw await symlinkError(join(directory, entry.name))
  }
}
