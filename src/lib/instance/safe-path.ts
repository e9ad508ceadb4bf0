import {Stats, constants, lstatSync, readlinkSync, realpathSync, statSync} from 'node:fs'
import {open, readdir} from 'node:fs/promises'
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
  checkPathParts(path, expected, new Set())
}

/**
 * The walk behind assertSafePath. `checkedDirectories` holds directories already seen to be real directories
 * in this check, so checking the instance's fourteen paths looks at each directory once. Synchronous lstat:
 * a dozen of them cost less than one round of promises.
 */
function checkPathParts(path: string, expected: PathKind, checkedDirectories: Set<string>): void {
  const absolute = resolve(path)
  const {root} = parse(absolute)
  const parts = absolute.slice(root.length).split(sep).filter((part) => part !== '')
  let current = root
  for (const [index, part] of parts.entries()) {
    current = join(current, part)
    const last = index === parts.length - 1
    if (!last && checkedDirectories.has(current)) continue
    const info = lstatSync(current, {throwIfNoEntry: false})
    if (!info) return
    if (info.isSymbolicLink()) throw symlinkError(current)
    checkKind(current, info, last ? expected : 'directory')
    if (info.isDirectory()) checkedDirectories.add(current)
  }
}

function checkKind(path: string, info: Stats, expected: PathKind): void {
  if (expected === 'directory' && !info.isDirectory()) {
    throw new InvalidInputError(`${path} is ${describeKind(info)}, but agnes needs a directory there`, {
      hint: `Move it out of the way (e.g. \`mv ${path} ${path}.bak\`; agnes creates the directory), then re-run.`,
    })
  }

  if (expected === 'file' && !info.isFile()) {
    throw new InvalidInputError(`${path} is ${describeKind(info)}, but agnes needs a regular file there`, {
      hint: `Move it out of the way (e.g. \`mv ${path} ${path}.bak\`), then re-run (\`agnes init\` recreates what it needs).`,
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

function symlinkError(path: string): UnsafePathError {
  let target: string | undefined
  try {
    target = readlinkSync(path)
  } catch {}

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
    if (code === 'ELOOP') throw symlinkError(path)
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
  const checked = new Set<string>()
  checkPathParts(paths.dir, 'directory', checked)
  for (const directory of [paths.configDir, paths.agnesDir, paths.backupsDir]) checkPathParts(directory, 'directory', checked)
  const files = [paths.env, paths.compose, paths.override, paths.caddyfile, paths.instanceYaml, paths.stateFile, paths.secretsFile, paths.historyFile, paths.lockFile, paths.journalFile]
  for (const file of files) checkPathParts(file, 'file', checked)
  for (const directory of [paths.agnesDir, paths.backupsDir]) {
    const entries = await readdir(directory, {withFileTypes: true}).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return []
      throw error
    })
    for (const entry of entries) if (entry.isSymbolicLink()) throw symlinkError(join(directory, entry.name))
  }
}
