import {lstat, readdir, rm, stat, statfs} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {DiskFullError, InvalidInputError} from '../errors.js'
import {assertSafePath} from '../instance/safe-path.js'

/**
 * The state backups in `.agnes/backups`: how they are named, listed and found, how long they are kept, and
 * the room a new one needs. A backup's file name is `<UTC time>-<label>.tar`; its id is the name without
 * `.tar`. The label says who took it: the first 12 hex digits of the digest that was left (a switch:
 * upgrade, pin or rollback), `manual` (`agnes backup`), or `pre-restore` (the state a restore replaced).
 */

const BACKUP_FILE = /^(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z)-([\w.-]+)\.tar$/
const BACKUP_ID = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-[\w.-]+$/
export const TEMP_PREFIX = '.backup-'
/** A temporary file this old was left by a backup that was killed; no backup runs that long. */
const ABANDONED_TEMP_MS = 6 * 60 * 60 * 1000

export const MANUAL_LABEL = 'manual'
export const PRE_RESTORE_LABEL = 'pre-restore'
/** Backups of the state a restore replaced are pruned to this many; manual backups are never pruned. */
export const PRE_RESTORE_BACKUPS_KEPT = 3

export type BackupKind = 'switch' | 'manual' | 'pre-restore'

export interface BackupInfo {
  id: string
  file: string
  size: number
  createdAt: string
  label: string
  kind: BackupKind
}

export function backupKind(label: string): BackupKind {
  if (label === MANUAL_LABEL) return 'manual'
  if (label === PRE_RESTORE_LABEL) return 'pre-restore'
  return 'switch'
}

/** The file name of a backup taken at `createdAt` (an ISO time) with a label made safe for a file name. */
export function backupFileName(createdAt: string, label: string): string {
  const safeLabel = label.replace(/[^\w.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 80) || 'backup'
  return `${createdAt.replaceAll(':', '-')}-${safeLabel}.tar`
}

function parseBackupName(name: string): {createdAt: string; label: string} | undefined {
  const match = BACKUP_FILE.exec(name)
  if (!match) return undefined
  const [date, time] = match[1].split('T')
  return {createdAt: `${date}T${time.replace(/^(\d\d)-(\d\d)-/, '$1:$2:')}`, label: match[2]}
}

async function backupNames(backupsDir: string): Promise<string[]> {
  try {
    return await readdir(backupsDir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}

/** Every backup in the directory, newest first; other files (and links) there are not backups and are left out. */
export async function listBackups(backupsDir: string): Promise<BackupInfo[]> {
  await assertSafePath(backupsDir, 'directory')
  const backups: BackupInfo[] = []
  for (const name of (await backupNames(backupsDir)).sort().reverse()) {
    const parsed = parseBackupName(name)
    if (!parsed) continue
    const file = join(backupsDir, name)
    const info = await lstat(file)
    if (!info.isFile()) continue
    backups.push({size: info.size, createdAt: parsed.createdAt, file, id: name.slice(0, -'.tar'.length), kind: backupKind(parsed.label), label: parsed.label})
  }

  return backups
}

/** A backup id as `agnes backup list` shows it (the file name, with or without `.tar`); nothing else, so never a path. */
export function validateBackupId(id: string): string {
  const wanted = id.trim().replace(/\.tar$/, '')
  if (BACKUP_ID.test(wanted)) return wanted
  throw new InvalidInputError(`"${id}" is not a backup id`, {hint: 'Backup ids look like 2026-05-04T10-15-30.123Z-manual; `agnes backup list` shows them.'})
}

/** The backup with this id; an unknown id is invalid input (exit 3) with a pointer to the list. */
export async function findBackup(backupsDir: string, id: string): Promise<BackupInfo> {
  const wanted = validateBackupId(id)
  const found = (await listBackups(backupsDir)).find((backup) => backup.id === wanted)
  if (found) return found
  throw new InvalidInputError(`there is no backup ${wanted} in ${backupsDir}`, {hint: '`agnes backup list` shows the backups of this instance.'})
}

/**
 * Keeps the newest `keep` backups of one kind (default those a switch takes) and removes older ones of
 * that kind, and temporary files of backups that were killed. Manual backups are never removed. A
 * protected backup (one a rollback needs) is never removed and does not count against `keep`, so backups
 * of failed attempts can never push it out.
 */
export async function pruneBackups(backupsDir: string, keep = 5, protect: Iterable<string | undefined> = [], kind: Exclude<BackupKind, 'manual'> = 'switch'): Promise<string[]> {
  if (!Number.isInteger(keep) || keep < 1) throw new InvalidInputError(`cannot keep ${keep} backups: keep at least 1`)
  const names = await backupNames(backupsDir)
  const protectedNames = new Set([...protect].filter((file): file is string => Boolean(file)).map((file) => basename(file)))
  const ofKind = (name: string) => {
    const parsed = parseBackupName(name)
    return parsed !== undefined && backupKind(parsed.label) === kind
  }

  const backups = names.filter((name) => ofKind(name) && !protectedNames.has(name)).sort().reverse()
  const removed = backups.slice(keep).map((name) => join(backupsDir, name))
  for (const name of names.filter((name) => name.startsWith(TEMP_PREFIX))) {
    const path = join(backupsDir, name)
    const {mtimeMs} = await stat(path)
    if (Date.now() - mtimeMs > ABANDONED_TEMP_MS) removed.push(path)
  }

  for (const path of removed) await rm(path, {force: true})
  return removed
}

/** The least room a state backup is given, whatever the last one weighed. */
export const BACKUP_ROOM_FLOOR = 64 * 1024 ** 2

/**
 * The room a new state backup needs, estimated from the newest one (state grows slowly): its size and a
 * half again, and at least the floor.
 */
export async function backupRoomNeeded(backupsDir: string): Promise<number> {
  const newest = (await backupNames(backupsDir)).filter((name) => BACKUP_FILE.test(name)).sort().at(-1)
  const lastBytes = newest ? (await stat(join(backupsDir, newest))).size : 0
  return Math.max(BACKUP_ROOM_FLOOR, Math.ceil(lastBytes * 1.5))
}

/** Free bytes on the file system that holds `path` (or its nearest existing parent). */
export async function freeBytesAt(path: string): Promise<number> {
  for (let candidate = path; ; candidate = dirname(candidate)) {
    try {
      const disk = await statfs(candidate)
      return disk.bavail * disk.bsize
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(candidate) === candidate) throw error
    }
  }
}

export const mib = (bytes: number) => `${Math.ceil(bytes / 1024 ** 2)} MiB`

/** Refuses a change whose state backup would not fit where `.agnes/backups` lives (exit 9), before anything stops. */
export async function checkBackupRoom(backupsDir: string): Promise<void> {
  const [needed, free] = await Promise.all([backupRoomNeeded(backupsDir), freeBytesAt(backupsDir)])
  if (free < needed) {
    throw new DiskFullError(`only ${mib(free)} free where the state backups go (${backupsDir}); a backup needs about ${mib(needed)}`, {
      hint: 'Free space on that file system (old backups in .agnes/backups can be moved elsewhere), then re-run; nothing was changed.',
    })
  }
}
