import {createHash, randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {link, mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import {hostname} from 'node:os'
import {dirname} from 'node:path'

import {InvalidInputError} from '../errors.js'

/**
 * The instance lock against overlapping runs (cron ticks can arrive several at once). Node has no flock,
 * so the lock is a file created exclusively; a lock left by a process that died is taken over.
 */

export interface LockOwner {
  pid: number
  hostname: string
  command: string
  startedAt: string
  /** Linux: the kernel's boot id, so a lock from before a reboot is stale even when its pid is reused. */
  bootId?: string
  /** Linux: the owner's start time in clock ticks since boot, so a reused pid is not mistaken for the owner. */
  pidStartTime?: number
}

export interface LockHandle {
  readonly path: string
  readonly owner: LockOwner
  /** Removes the lock file if it is still ours; safe to call more than once. */
  release(): Promise<void>
}

/** Retries after a holder vanished or a stale lock was cleared; a live holder ends the attempt at once. */
const MAX_ATTEMPTS = 3

/** Takes the lock, or returns undefined at once when a live process holds it. */
export async function acquireLock(path: string, options: {command: string}): Promise<LockHandle | undefined> {
  try {
    return await takeLock(path, options.command)
  } catch (error) {
    throw new InvalidInputError(`cannot take the instance lock ${path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'Check that this user may write to the instance directory.',
    })
  }
}

async function takeLock(path: string, command: string): Promise<LockHandle | undefined> {
  await mkdir(dirname(path), {mode: 0o700, recursive: true})
  const owner: LockOwner = {...thisProcess(), command, startedAt: new Date().toISOString()}
  // The nonce makes every lock's content unique, which release() and the takeover rely on.
  const content = `${JSON.stringify({...owner, nonce: randomBytes(8).toString('hex')})}\n`

  for (let attempt = 0; ; attempt++) {
    if (await createExclusive(path, content)) return lockHandle(path, owner, content)
    if (attempt === MAX_ATTEMPTS) return undefined
    const held = await readText(path)
    if (held === undefined) continue
    if (isHeldByLiveProcess(parseOwner(held))) return undefined
    await removeStale(path, held, content)
  }
}

/** Who holds the lock and since when, for status messages; undefined when it is free or unreadable. */
export async function readLock(path: string): Promise<LockOwner | undefined> {
  const text = await readText(path)
  return text === undefined ? undefined : parseOwner(text)
}

function lockHandle(path: string, owner: LockOwner, content: string): LockHandle {
  return {
    owner,
    path,
    async release() {
      if ((await readText(path)) === content) await rm(path, {force: true})
    },
  }
}

/**
 * Creates the lock file with its whole content in one step: the content goes to a private temporary
 * file that is then hard-linked to the lock path, which fails when the path exists. Unlike open('wx')
 * followed by a write, no reader ever sees an empty lock, and a crash cannot leave one behind.
 */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(temporary, content, {flag: 'wx', mode: 0o600})
  try {
    await link(temporary, path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  } finally {
    await rm(temporary, {force: true})
  }
}

/**
 * Removes `path` if it still holds `staleContent`, safely while other processes race to do the same.
 * Renaming or deleting after a plain check is not enough: a slow racer could remove the live lock that a
 * faster one has just created. So the removal of one stale generation is reserved by exclusively creating
 * a marker named after that content: while we hold it, nobody else can act on this generation, and the
 * generation can never reappear, so a racer that gets the marker later finds the lock changed and stops.
 * A marker left by a taker that died is itself stale and is cleared the same way.
 */
async function removeStale(path: string, staleContent: string, owner: string): Promise<void> {
  const marker = `${path}.takeover-${createHash('sha256').update(staleContent).digest('hex').slice(0, 16)}`
  for (let attempt = 0; ; attempt++) {
    if (await createExclusive(marker, owner)) break
    if (attempt === MAX_ATTEMPTS) return
    const taker = await readText(marker)
    if (taker === undefined) continue
    if (isHeldByLiveProcess(parseOwner(taker))) return
    await removeStale(marker, taker, owner)
  }

  try {
    if ((await readText(path)) === staleContent) await rm(path, {force: true})
  } finally {
    await rm(marker, {force: true})
  }
}

/** Whether the lock's owner still runs: the same host and boot, the pid alive, and the same process. */
export function isHeldByLiveProcess(owner: LockOwner | undefined): boolean {
  // Locks are written atomically, so unreadable content is damage, not a lock being written.
  if (owner === undefined) return false
  const here = thisProcess()
  // The instance directory belongs to one host; another hostname is a previous VM that used this disk.
  if (owner.hostname !== here.hostname) return false
  if (owner.bootId !== undefined && here.bootId !== undefined && owner.bootId !== here.bootId) return false
  if (!processExists(owner.pid)) return false
  if (owner.pidStartTime === undefined) return true
  const startTime = processStartTime(owner.pid)
  return startTime === undefined || startTime === owner.pidStartTime
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function thisProcess(): Pick<LockOwner, 'bootId' | 'hostname' | 'pid' | 'pidStartTime'> {
  return {bootId: readBootId(), hostname: hostname(), pid: process.pid, pidStartTime: processStartTime(process.pid)}
}

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

/** Field 22 of /proc/<pid>/stat; the fields are counted after the command name, which may hold spaces and parentheses. */
function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const value = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
    return Number.isSafeInteger(value) ? value : undefined
  } catch {
    return undefined
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>
    // A pid of 0 or below would make process.kill() probe a whole process group.
    if (!Number.isSafeInteger(value.pid) || (value.pid as number) <= 0 || typeof value.hostname !== 'string' || typeof value.startedAt !== 'string') return undefined
    return {
      bootId: typeof value.bootId === 'string' ? value.bootId : undefined,
      command: typeof value.command === 'string' ? value.command : '',
      hostname: value.hostname,
      pid: value.pid as number,
      pidStartTime: Number.isSafeInteger(value.pidStartTime) ? value.pidStartTime : undefined,
      startedAt: value.startedAt,
    }
  } catch {
    return undefined
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
