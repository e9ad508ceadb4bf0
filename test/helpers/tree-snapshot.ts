import {createHash} from 'node:crypto'
import {lstatSync, readFileSync, readdirSync, readlinkSync} from 'node:fs'
import {join, relative} from 'node:path'

/** relative path → what it is: type, permission bits and a content hash (files) or target (symlinks). */
export type TreeSnapshot = Map<string, string>

/**
 * Everything under root that a command could change: each entry's type and mode, each file's sha256 and each
 * symlink's target, read with lstat so a link is recorded as a link and never followed. Times are left out:
 * taking and releasing the lock touches a directory's mtime without changing anything in it.
 */
export function snapshotTree(root: string): TreeSnapshot {
  const snapshot: TreeSnapshot = new Map()
  const visit = (path: string) => {
    let stats
    try {
      stats = lstatSync(path)
    } catch {
      return
    }

    const name = relative(root, path) || '.'
    const mode = (stats.mode & 0o7777).toString(8)
    if (stats.isSymbolicLink()) snapshot.set(name, `symlink -> ${readlinkSync(path)}`)
    else if (stats.isFile()) snapshot.set(name, `file ${mode} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`)
    else if (stats.isDirectory()) {
      snapshot.set(name, `dir ${mode}`)
      for (const entry of readdirSync(path).sort()) visit(join(path, entry))
    } else snapshot.set(name, `other ${mode}`)
  }

  visit(root)
  return snapshot
}

/** What differs between two snapshots, one line per path; empty when nothing changed. */
export function diffSnapshots(before: TreeSnapshot, after: TreeSnapshot): string[] {
  const changes: string[] = []
  for (const [path, was] of before) {
    const now = after.get(path)
    if (now === undefined) changes.push(`removed ${path} (was ${was})`)
    else if (now !== was) changes.push(`changed ${path}: ${was} → ${now}`)
  }

  for (const [path, now] of after) if (!before.has(path)) changes.push(`added ${path} (${now})`)
  return changes
}
