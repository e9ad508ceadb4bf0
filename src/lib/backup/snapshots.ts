import {randomBytes} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {chmod, type FileHandle, mkdir, open, rename, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import type Dockerode from 'dockerode'

import {AgnesError, ConflictError, DiskFullError, DockerError, InvalidInputError, NotFoundError} from '../errors.js'
import {assertSafePath} from '../instance/safe-path.js'
import {TEMP_PREFIX, backupFileName, freeBytesAt, mib} from './retention.js'
import {type TarEntry, type TarInput, readTar, writeTar} from './tar.js'

/**
 * Backs up and restores the instance state (`/data/state`) through the Docker engine API alone: the app
 * image has no shell or tools, and the engine can copy a path out of and into a stopped container.
 */

const STATE_PATH = '/data/state'
const STATE_PARENT = '/data'
const STATE_ROOT = 'state'

export interface StateBackup {
  file: string
  bytes: number
  createdAt: string
}

/** Copies `/data/state` out of the stopped container into `<backupsDir>/<UTC time>-<label>.tar` (mode 0600). */
export async function backupState(api: Dockerode, containerId: string, backupsDir: string, label: string): Promise<StateBackup> {
  await assertStopped(api, containerId)
  await assertSafePath(backupsDir, 'directory')
  await mkdir(backupsDir, {mode: 0o700, recursive: true})
  await chmod(backupsDir, 0o700)
  const createdAt = new Date().toISOString()
  const file = join(backupsDir, backupFileName(createdAt, label))
  const temporary = join(backupsDir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}.tmp`)
  const freeBefore = await freeBytesAt(backupsDir).catch(() => undefined)
  const written: CopyProgress = {bytes: 0, read: 0}
  let handle: FileHandle | undefined
  let committed = false
  try {
    handle = await open(temporary, 'wx', 0o600)
    const archive = await getStateArchive(api, containerId)
    if (!archive) throw new NotFoundError(`container ${shortId(containerId)} has no ${STATE_PATH} to back up`)
    const entries: TarEntry[] = []
    for await (const entry of readTar(copyInto(archive, handle, written))) entries.push(entry)
    if (written.failure) throw written.failure
    checkStateEntries(entries)
    await handle.sync()
    await handle.close()
    await rename(temporary, file)
    committed = true
    return {bytes: written.bytes, createdAt, file}
  } catch (error) {
    if (error instanceof AgnesError) throw error
    if (isDiskFull(error)) throw backupDiskFull(backupsDir, containerId, written.read, freeBefore, error)
    throw new DockerError(`backing up ${STATE_PATH} of container ${shortId(containerId)} failed: ${(error as Error).message}`, {cause: error})
  } finally {
    if (!committed) {
      await handle?.close().catch(() => {})
      await rm(temporary, {force: true})
    }
  }
}

/**
 * Makes `/data/state` of the stopped container equal to a backup, not merely overlaid with it. The engine
 * API can add and replace files but cannot delete them, and a file the newer version created (a DuckDB WAL,
 * above all) would otherwise survive next to the older database and corrupt it. So the restore archive is
 * the backup's own bytes followed by a zero-length file for every file present now but absent from the
 * backup; nothing is deleted (agnes never deletes under /data), the newer content is just gone. Afterwards
 * the state is read back and compared, because the engine can answer 200 to an archive it did not apply.
 */
export async function restoreState(api: Dockerode, containerId: string, file: string): Promise<void> {
  await assertSafePath(file)
  await assertStopped(api, containerId)
  const current = await listState(api, containerId)
  const restore = await buildRestoreArchive(file, current)
  try {
    await api.getContainer(containerId).putArchive(restore.archive, {path: STATE_PARENT})
  } catch (error) {
    throw new DockerError(`restoring ${STATE_PATH} of container ${shortId(containerId)} failed: ${(error as Error).message}`, {cause: error})
  } finally {
    // An engine that answered before reading all of it (an error) leaves the backup file open otherwise.
    restore.archive.destroy()
  }

  const mismatched = compareState(restore.expected, await listState(api, containerId))
  if (mismatched.length > 0) {
    throw new DockerError(`restoring ${STATE_PATH} of container ${shortId(containerId)} did not take effect (${mismatched.slice(0, 3).join(', ')}${mismatched.length > 3 ? ', …' : ''})`, {
      hint: `The backup is unchanged: ${file}`,
    })
  }
}

/**
 * Keeps the newest `keep` backups and removes older ones, and temporary files of backups that were killed.
 * A protected backup (one a rollback needs) is never removed and does not count against `keep`, so backups
 * of failed attempts can never push it out.
 */

export interface RestoreArchive {
  archive: Readable
  /** Every regular file the state must hold afterwards, with its size. */
  expected: Map<string, number>
}

/** The archive to put at `/data`: the backup's entries, then the truncations planned by planRestore. */
export async function buildRestoreArchive(backupFile: string, current: readonly TarEntry[]): Promise<RestoreArchive> {
  const backup = await readBackupEntries(backupFile)
  const truncated = planRestore(backup, current)
  const expected = new Map<string, number>()
  for (const entry of backup) if (entry.type === 'file') expected.set(entry.name, entry.size)
  for (const entry of truncated) expected.set(entry.name, 0)
  const backupDataEnd = backup.at(-1)?.end ?? 0
  async function* bytes(): AsyncGenerator<Buffer> {
    yield* createReadStream(backupFile, {end: backupDataEnd - 1})
    yield writeTar(truncated)
  }

  return {archive: Readable.from(bytes()), expected}
}

/**
 * The zero-length files a restore must add: one for every non-directory entry present now but absent from
 * the backup, with its current owner and mode. Directories stay (their files are handled one by one), and
 * so does anything below a path the backup replaces with a non-directory (the engine removes that subtree).
 */
export function planRestore(backup: readonly TarEntry[], current: readonly TarEntry[]): TarInput[] {
  const inBackup = new Set(backup.map((entry) => entry.name))
  const replacedByNonDirectory = new Set(backup.filter((entry) => entry.type !== 'directory').map((entry) => entry.name))
  const underReplaced = (name: string) => ancestors(name).some((ancestor) => replacedByNonDirectory.has(ancestor))
  return current
    .filter((entry) => entry.type !== 'directory' && !inBackup.has(entry.name) && !underReplaced(entry.name))
    .map((entry) => ({gid: entry.gid, mode: entry.mode, mtime: entry.mtime, name: entry.name, type: 'file', uid: entry.uid}))
}

async function assertStopped(api: Dockerode, containerId: string): Promise<void> {
  let state: {Running: boolean; Restarting: boolean}
  try {
    state = (await api.getContainer(containerId).inspect()).State
  } catch (error) {
    if ((error as {statusCode?: number}).statusCode === 404) throw new NotFoundError(`container ${shortId(containerId)} does not exist`)
    throw new DockerError(`cannot inspect container ${shortId(containerId)}: ${(error as Error).message}`, {cause: error})
  }

  if (state.Running || state.Restarting) {
    throw new ConflictError(`container ${shortId(containerId)} is running; its state can only be copied while it is stopped`, {
      hint: 'A copy of a live DuckDB database is not consistent: stop the app first.',
    })
  }
}

/** The tar stream of `/data/state`, or undefined when the container has no such path. */
async function getStateArchive(api: Dockerode, containerId: string): Promise<NodeJS.ReadableStream | undefined> {
  try {
    return await api.getContainer(containerId).getArchive({path: STATE_PATH})
  } catch (error) {
    if ((error as {statusCode?: number}).statusCode === 404) return undefined
    throw new DockerError(`cannot read ${STATE_PATH} of container ${shortId(containerId)}: ${(error as Error).message}`, {cause: error})
  }
}

/** The entries of `/data/state` now, without their contents; empty when there is no such path. */
async function listState(api: Dockerode, containerId: string): Promise<TarEntry[]> {
  const archive = await getStateArchive(api, containerId)
  const entries: TarEntry[] = []
  if (!archive) return entries
  try {
    for await (const entry of readTar(archive as AsyncIterable<Uint8Array>)) entries.push(entry)
  } catch (error) {
    throw new DockerError(`cannot list ${STATE_PATH} of container ${shortId(containerId)}: ${(error as Error).message}`, {cause: error})
  }

  return entries
}

/** Reads a whole backup and checks it is an archive of `state/`: a damaged one is refused before anything stops. */
export async function readBackupEntries(file: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = []
  try {
    for await (const entry of readTar(createReadStream(file))) entries.push(entry)
    checkStateEntries(entries)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`the backup ${file} does not exist`)
    throw new InvalidInputError(`${file} is not a usable state backup: ${(error as Error).message}`, {cause: error, hint: 'It is damaged or not a backup agnes took; `agnes backup list` shows the others.'})
  }

  return entries
}

function checkStateEntries(entries: readonly TarEntry[]): void {
  if (entries.length === 0) throw new InvalidInputError('the archive is empty')
  const outside = entries.find((entry) => !(entry.name === STATE_ROOT || entry.name.startsWith(`${STATE_ROOT}/`)) || entry.name.split('/').includes('..'))
  if (outside) throw new InvalidInputError(`the archive holds ${JSON.stringify(outside.name)}, outside ${STATE_ROOT}/`)
}

/** Files that differ between what the restore should have produced and what the state holds. */
function compareState(expected: ReadonlyMap<string, number>, actual: readonly TarEntry[]): string[] {
  const actualByName = new Map(actual.map((entry) => [entry.name, entry]))
  const mismatched: string[] = []
  for (const [name, size] of expected) {
    const entry = actualByName.get(name)
    if (!entry) mismatched.push(`${name} missing`)
    else if (entry.type === 'file' && entry.size !== size) mismatched.push(`${name} has ${entry.size} bytes, not ${size}`)
  }

  return mismatched
}

interface CopyProgress {
  /** Bytes of the archive read from the engine, and written to the file. */
  read: number
  bytes: number
  /** The write error that ended the copy (the disk filled up); the rest of the archive is still read, to size it. */
  failure?: Error
}

/**
 * Passes the chunks through while writing them to a file, so the archive is checked as it is saved. A full
 * disk stops the writing but not the reading: the whole archive's size tells how much room was needed.
 */
async function* copyInto(source: NodeJS.ReadableStream, handle: FileHandle, progress: CopyProgress): AsyncGenerator<Uint8Array> {
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    progress.read += chunk.length
    if (!progress.failure) {
      try {
        await handle.write(chunk)
        progress.bytes += chunk.length
      } catch (error) {
        if (!isDiskFull(error)) throw error
        progress.failure = error as Error
      }
    }

    yield chunk
  }
}

function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

/** The backup did not fit where `.agnes/backups` lives (exit 9): where, how much it needed, how much was free. */
function backupDiskFull(backupsDir: string, containerId: string, needed: number, free: number | undefined, cause: unknown): AgnesError {
  const room = `${needed > 0 ? `the backup needs at least ${mib(needed)}` : 'the backup needs more room'}${free === undefined ? '' : `, and ${mib(free)} were free when it began`}`
  return new DiskFullError(`the disk holding the state backups (${backupsDir}) is full: backing up ${STATE_PATH} of container ${shortId(containerId)} ran out of space (${room}); the partial backup was removed`, {
    cause,
    details: {backupsDir, ...(free === undefined ? {} : {freeBytes: free}), neededBytes: needed},
    hint: `Make room for at least ${mib(needed)} there: move older backups out of ${backupsDir}, free space on that file system, or mount a larger disk on it; then re-run.`,
  })
}

function shortId(containerId: string): string {
  return /^[0-9a-f]{64}$/.test(containerId) ? containerId.slice(0, 12) : containerId
}

function ancestors(name: string): string[] {
  const parts = name.split('/')
  return parts.slice(1).map((_, index) => parts.slice(0, index + 1).join('/'))
}
