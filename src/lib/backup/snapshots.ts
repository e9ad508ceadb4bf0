import {randomBytes} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {chmod, type FileHandle, mkdir, open, readdir, rename, rm, stat, statfs} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {Readable} from 'node:stream'
import type Dockerode from 'dockerode'

import {AgnesError, ConflictError, DockerError, ExitCode, InvalidInputError, NotFoundError} from '../errors.js'
import {assertSafePath} from '../instance/safe-path.js'

/**
 * Backs up and restores the instance state (`/data/state`) through the Docker engine API alone: the app
 * image has no shell or tools, and the engine can copy a path out of and into a stopped container.
 */

const STATE_PATH = '/data/state'
const STATE_PARENT = '/data'
const STATE_ROOT = 'state'
const BACKUP_FILE = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-[\w.-]+\.tar$/
const TEMP_PREFIX = '.backup-'
/** A temporary file this old was left by a backup that was killed; no backup runs that long. */
const ABANDONED_TEMP_MS = 6 * 60 * 60 * 1000

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
  const file = join(backupsDir, `${createdAt.replaceAll(':', '-')}-${fileLabel(label)}.tar`)
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
export async function pruneBackups(backupsDir: string, keep = 5, protect: Iterable<string | undefined> = []): Promise<string[]> {
  if (!Number.isInteger(keep) || keep < 1) throw new InvalidInputError(`cannot keep ${keep} backups: keep at least 1`)
  let names: string[]
  try {
    names = await readdir(backupsDir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }

  const protectedNames = new Set([...protect].filter((file): file is string => Boolean(file)).map((file) => basename(file)))
  const backups = names.filter((name) => BACKUP_FILE.test(name) && !protectedNames.has(name)).sort().reverse()
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
  let names: string[] = []
  try {
    names = (await readdir(backupsDir)).filter((name) => BACKUP_FILE.test(name)).sort()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }

  const newest = names.at(-1)
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

/** Refuses a switch whose state backup would not fit where `.agnes/backups` lives (exit 9), before anything stops. */
export async function checkBackupRoom(backupsDir: string): Promise<void> {
  const [needed, free] = await Promise.all([backupRoomNeeded(backupsDir), freeBytesAt(backupsDir)])
  if (free < needed) {
    throw new AgnesError('E_DISK_FULL', ExitCode.DOCKER, `only ${mib(free)} free where the state backups go (${backupsDir}); a backup needs about ${mib(needed)}`, {
      hint: 'Free space on that file system (old backups in .agnes/backups can be moved elsewhere), then re-run; nothing was changed.',
    })
  }
}

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

async function readBackupEntries(file: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = []
  try {
    for await (const entry of readTar(createReadStream(file))) entries.push(entry)
    checkStateEntries(entries)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`the backup ${file} does not exist`)
    throw new InvalidInputError(`${file} is not a usable state backup: ${(error as Error).message}`, {cause: error})
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

const mib = (bytes: number) => `${Math.ceil(bytes / 1024 ** 2)} MiB`

/** The backup did not fit where `.agnes/backups` lives (exit 9): where, how much it needed, how much was free. */
function backupDiskFull(backupsDir: string, containerId: string, needed: number, free: number | undefined, cause: unknown): AgnesError {
  const room = `${needed > 0 ? `the backup needs at least ${mib(needed)}` : 'the backup needs more room'}${free === undefined ? '' : `, and ${mib(free)} were free when it began`}`
  return new AgnesError('E_DISK_FULL', ExitCode.DOCKER, `the disk holding the state backups (${backupsDir}) is full: backing up ${STATE_PATH} of container ${shortId(containerId)} ran out of space (${room}); the partial backup was removed`, {
    cause,
    details: {backupsDir, ...(free === undefined ? {} : {freeBytes: free}), neededBytes: needed},
    hint: `Make room for at least ${mib(needed)} there: move older backups out of ${backupsDir}, free space on that file system, or mount a larger disk on it; then re-run.`,
  })
}

function fileLabel(label: string): string {
  return label.replace(/[^\w.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 80) || 'backup'
}

function shortId(containerId: string): string {
  return /^[0-9a-f]{64}$/.test(containerId) ? containerId.slice(0, 12) : containerId
}

function ancestors(name: string): string[] {
  const parts = name.split('/')
  return parts.slice(1).map((_, index) => parts.slice(0, index + 1).join('/'))
}

// ---------------------------------------------------------------------------------------------------------
// A minimal tar (POSIX ustar + pax) reader and writer: regular files, directories and long names. The
// reader also understands what Docker and GNU tar emit: pax path/size/linkpath records, GNU long names and
// base-256 numbers.

const BLOCK = 512
const USTAR_NAME_BYTES = 100
const USTAR_PREFIX_BYTES = 155
const MAX_OCTAL_SIZE = 0o77777777777

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other'

export interface TarEntry {
  /** The path, without a leading `./` or a trailing `/`. */
  name: string
  type: TarEntryType
  size: number
  mode: number
  uid: number
  gid: number
  mtime: Date
  linkName?: string
  /** Only when read with {content: true}. */
  content?: Buffer
  /** The offset right after this entry's padded data, where the next header starts. */
  end: number
}

export interface TarInput {
  name: string
  type: 'file' | 'directory'
  content?: Uint8Array | string
  mode?: number
  uid?: number
  gid?: number
  mtime?: Date
}

/** A complete archive, end-of-archive blocks included. */
export function writeTar(entries: readonly TarInput[]): Buffer {
  const blocks: Buffer[] = []
  for (const entry of entries) {
    const content = entry.type === 'file' ? Buffer.from(entry.content ?? '') : Buffer.alloc(0)
    if (content.length > MAX_OCTAL_SIZE) throw new InvalidInputError(`${entry.name} is too large for this tar writer`)
    const name = normalizeName(entry.name) + (entry.type === 'directory' ? '/' : '')
    const fields = {
      gid: entry.gid ?? 0,
      mode: entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644),
      mtime: Math.floor((entry.mtime ?? new Date()).getTime() / 1000),
      uid: entry.uid ?? 0,
    }
    let split = splitUstarName(name)
    if (!split) {
      const records = paxRecord('path', name)
      blocks.push(header({...fields, name: Buffer.from('PaxHeader'), prefix: Buffer.alloc(0), size: records.length, typeflag: 'x'}), padded(records))
      split = {name: Buffer.from(name).subarray(0, USTAR_NAME_BYTES), prefix: Buffer.alloc(0)}
    }

    blocks.push(header({...fields, ...split, size: content.length, typeflag: entry.type === 'directory' ? '5' : '0'}), padded(content))
  }

  blocks.push(Buffer.alloc(2 * BLOCK))
  return Buffer.concat(blocks)
}

/** Reads an archive as it streams; contents are skipped unless asked for, so archives of any size fit. */
export async function* readTar(source: AsyncIterable<Uint8Array>, options: {content?: boolean} = {}): AsyncGenerator<TarEntry> {
  const input = new ByteReader(source[Symbol.asyncIterator]())
  try {
    yield* readEntries(input, options.content === true)
  } finally {
    await input.close()
  }
}

async function* readEntries(input: ByteReader, withContent: boolean): AsyncGenerator<TarEntry> {
  let extended: Record<string, string> = {}
  for (;;) {
    const block = await input.read(BLOCK)
    if (!block) throw new InvalidInputError('the tar archive is truncated (no end-of-archive block)')
    if (block.every((byte) => byte === 0)) {
      await input.drain()
      return
    }

    if (checksum(block) !== readNumber(block, 148, 8)) throw new InvalidInputError(`the tar header at offset ${input.offset - BLOCK} is damaged`)
    const typeflag = String.fromCharCode(block[156])
    const headerSize = readNumber(block, 124, 12)
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      const data = await readExactly(input, headerSize)
      if (typeflag === 'x') extended = {...extended, ...parsePax(data)}
      if (typeflag === 'L') extended.path = cString(data, 0, data.length)
      if (typeflag === 'K') extended.linkpath = cString(data, 0, data.length)
      continue
    }

    const size = extended.size === undefined ? headerSize : Number(extended.size)
    const magic = block.subarray(257, 263).toString('latin1')
    const prefix = magic === 'ustar\0' ? cString(block, 345, USTAR_PREFIX_BYTES) : ''
    const ustarName = cString(block, 0, USTAR_NAME_BYTES)
    const linkName = extended.linkpath ?? cString(block, 157, USTAR_NAME_BYTES)
    const entry: TarEntry = {
      end: 0,
      gid: readNumber(block, 116, 8),
      // Go's archive/tar (Docker) also puts the file-type bits into the mode field.
      mode: readNumber(block, 100, 8) & 0o7777,
      mtime: new Date(readNumber(block, 136, 12) * 1000),
      name: normalizeName(extended.path ?? (prefix ? `${prefix}/${ustarName}` : ustarName)),
      size,
      type: entryType(typeflag),
      uid: readNumber(block, 108, 8),
      ...(linkName ? {linkName} : {}),
    }
    if (withContent && entry.type === 'file') {
      entry.content = await readExactly(input, size)
    } else if (!(await input.skip(roundUp(size)))) {
      throw new InvalidInputError(`the tar archive is truncated inside ${entry.name}`)
    }

    entry.end = input.offset
    extended = {}
    yield entry
  }
}

async function readExactly(input: ByteReader, size: number): Promise<Buffer> {
  const data = await input.read(roundUp(size))
  if (!data) throw new InvalidInputError('the tar archive is truncated')
  return data.subarray(0, size)
}

function entryType(typeflag: string): TarEntryType {
  switch (typeflag) {
    case '0':
    case '\0':
    case '7':
      return 'file'
    case '5':
      return 'directory'
    case '2':
      return 'symlink'
    case '1':
      return 'hardlink'
    default:
      return 'other'
  }
}

interface HeaderFields {
  name: Buffer
  prefix: Buffer
  typeflag: string
  size: number
  mode: number
  uid: number
  gid: number
  mtime: number
}

function header(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK)
  fields.name.copy(block, 0)
  writeOctal(block, 100, 8, fields.mode & 0o7777)
  writeOctal(block, 108, 8, fields.uid)
  writeOctal(block, 116, 8, fields.gid)
  writeOctal(block, 124, 12, fields.size)
  writeOctal(block, 136, 12, fields.mtime)
  block.write(fields.typeflag, 156, 'latin1')
  block.write('ustar\u000000', 257, 'latin1')
  fields.prefix.copy(block, 345)
  block.write(`${checksum(block).toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  return block
}

/** Splits a long ASCII name at a `/` into ustar's prefix and name fields, like Go's archive/tar. */
function splitUstarName(name: string): {name: Buffer; prefix: Buffer} | undefined {
  const bytes = Buffer.from(name)
  if (bytes.length !== name.length) return undefined
  if (bytes.length <= USTAR_NAME_BYTES) return {name: bytes, prefix: Buffer.alloc(0)}
  const searchEnd = Math.min(name.endsWith('/') ? name.length - 1 : name.length, USTAR_PREFIX_BYTES + 1)
  const slash = name.lastIndexOf('/', searchEnd - 1)
  if (slash <= 0 || name.length - slash - 1 > USTAR_NAME_BYTES || name.length - slash - 1 === 0) return undefined
  return {name: bytes.subarray(slash + 1), prefix: bytes.subarray(0, slash)}
}

/** A pax record is `<length> <key>=<value>\n`, where the length counts its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`
  const bodyLength = Buffer.byteLength(body)
  let digits = String(bodyLength).length
  if (String(bodyLength + digits).length > digits) digits++
  return Buffer.from(`${bodyLength + digits}${body}`)
}

function parsePax(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {}
  let offset = 0
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset)
    const length = Number(data.subarray(offset, space).toString('latin1'))
    if (space < 0 || !Number.isSafeInteger(length) || length <= 0) throw new InvalidInputError('a pax header of the tar archive is damaged')
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8')
    const equals = record.indexOf('=')
    records[record.slice(0, equals)] = record.slice(equals + 1)
    offset += length
  }

  return records
}

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'latin1')
}

/** Octal text, or big-endian base-256 when the high bit of the first byte is set (GNU, for big values). */
function readNumber(block: Buffer, offset: number, width: number): number {
  if (block[offset] & 0x80) {
    let value = block[offset] & 0x7f
    for (let index = offset + 1; index < offset + width; index++) value = value * 256 + block[index]
    return value
  }

  const text = block.subarray(offset, offset + width).toString('latin1').replace(/[\0 ]+/g, '')
  return text === '' ? 0 : Number.parseInt(text, 8)
}

/** The header checksum: the byte sum with the checksum field read as spaces. */
function checksum(block: Buffer): number {
  let sum = 8 * 0x20
  for (let index = 0; index < BLOCK; index++) if (index < 148 || index >= 156) sum += block[index]
  return sum
}

function cString(buffer: Buffer, offset: number, width: number): string {
  const field = buffer.subarray(offset, offset + width)
  const end = field.indexOf(0)
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8')
}

function normalizeName(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/\/+$/, '')
}

function padded(data: Buffer): Buffer {
  return data.length % BLOCK === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - (data.length % BLOCK))])
}

function roundUp(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK
}

/** Pulls exactly the bytes asked for from a chunked stream, keeping only what is not consumed yet. */
class ByteReader {
  offset = 0
  private readonly chunks: Buffer[] = []
  private buffered = 0

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  /** Exactly `size` bytes, or undefined when the stream ends first. */
  async read(size: number): Promise<Buffer | undefined> {
    if (!(await this.fill(size))) return undefined
    const parts: Buffer[] = []
    for (let needed = size; needed > 0; ) {
      const taken = this.take(needed)
      parts.push(taken)
      needed -= taken.length
    }

    return parts.length === 1 ? parts[0] : Buffer.concat(parts)
  }

  /** Discards `size` bytes as they arrive; false when the stream ends first. */
  async skip(size: number): Promise<boolean> {
    for (let remaining = size; remaining > 0; ) {
      if (this.buffered === 0 && !(await this.fill(1))) return false
      remaining -= this.take(remaining).length
    }

    return true
  }

  /** Consumes the rest of the stream (padding after the end-of-archive blocks). */
  async drain(): Promise<void> {
    while (!(await this.source.next()).done);
  }

  async close(): Promise<void> {
    await this.source.return?.()
  }

  /** Up to `size` bytes from the first buffered chunk. */
  private take(size: number): Buffer {
    const chunk = this.chunks[0]
    const taken = chunk.subarray(0, size)
    if (taken.length === chunk.length) this.chunks.shift()
    else this.chunks[0] = chunk.subarray(taken.length)
    this.buffered -= taken.length
    this.offset += taken.length
    return taken
  }

  private async fill(size: number): Promise<boolean> {
    while (this.buffered < size) {
      const next = await this.source.next()
      if (next.done) return false
      this.chunks.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength))
      this.buffered += next.value.byteLength
    }

    return true
  }
}
