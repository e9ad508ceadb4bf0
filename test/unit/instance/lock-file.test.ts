import {type ChildProcess, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {once} from 'node:events'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import ts from 'typescript'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {InvalidInputError} from '../../../src/lib/errors.js'
import {acquireLock, type LockHandle, readLock} from '../../../src/lib/instance/lock-file.js'

let dir: string
let lockPath: string
const handles: LockHandle[] = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-lock-test-'))
  lockPath = join(dir, '.agnes', 'lock')
})

afterEach(async () => {
  for (const handle of handles.splice(0)) await handle.release()
  rmSync(dir, {force: true, recursive: true})
})

async function acquire(command = 'upgrade'): Promise<LockHandle | undefined> {
  const handle = await acquireLock(lockPath, {command})
  if (handle) handles.push(handle)
  return handle
}

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], {stdio: 'ignore'})
  await once(child, 'exit')
  return child.pid as number
}

function writeForeignLock(owner: Record<string, unknown>): void {
  writeFileSync(lockPath, JSON.stringify({command: 'upgrade', hostname: hostname(), startedAt: '2026-01-01T00:00:00.000Z', ...owner}), {mode: 0o600})
}

describe('acquireLock', () => {
  it('writes who holds the lock, private to the owner', async () => {
    const handle = await acquire('upgrade --channel stable')
    expect(handle).toBeDefined()
    expect(statSync(lockPath).mode & 0o777).toBe(0o600)
    const owner = await readLock(lockPath)
    expect(owner).toMatchObject({command: 'upgrade --channel stable', hostname: hostname(), pid: process.pid})
    expect(Date.parse(owner?.startedAt ?? '')).toBeGreaterThan(Date.now() - 10_000)
    expect(readdirSync(join(dir, '.agnes'))).toEqual(['lock'])
  })

  it('refuses a second holder while the lock is held, and gives it up on release', async () => {
    const first = await acquire()
    expect(await acquire()).toBeUndefined()
    await first?.release()
    expect(await readLock(lockPath)).toBeUndefined()
    expect(await acquire()).toBeDefined()
  })

  it('releases only a lock that is still its own, even one taken in the same millisecond', async () => {
    vi.useFakeTimers({toFake: ['Date']})
    try {
      const first = await acquire()
      rmSync(lockPath)
      const second = await acquire()
      expect(second?.owner.startedAt).toBe(first?.owner.startedAt)
      await first?.release()
      expect(await readLock(lockPath)).toBeDefined()
      await second?.release()
      expect(await readLock(lockPath)).toBeUndefined()
    } finally {
      vi.useRealTimers()
    }
  })

  it('takes over a lock left by a dead process', async () => {
    await acquire()
    rmSync(lockPath)
    writeForeignLock({pid: await deadPid()})
    const handle = await acquire()
    expect(handle).toBeDefined()
    expect((await readLock(lockPath))?.pid).toBe(process.pid)
    expect(readdirSync(join(dir, '.agnes'))).toEqual(['lock'])
  })

  it('respects a lock held by another live process, even one it may not signal', async () => {
    await acquire()
    writeForeignLock({pid: process.ppid})
    expect(await acquire()).toBeUndefined()
    // pid 1 belongs to root: process.kill(1, 0) is EPERM for other users and succeeds for root, alive either way.
    writeForeignLock({pid: 1})
    expect(await acquire()).toBeUndefined()
  })

  it.runIf(process.platform === 'linux')('takes over a lock whose live pid now belongs to another process or another boot', async () => {
    await acquire()
    writeForeignLock({pid: process.ppid, pidStartTime: 1})
    expect(await acquire()).toBeDefined()
    rmSync(lockPath)
    writeForeignLock({bootId: 'a-previous-boot', pid: process.ppid})
    expect(await acquire()).toBeDefined()
  })

  it('recovers when a process died while taking over a stale lock', async () => {
    await acquire()
    const stale = JSON.stringify({command: 'upgrade', hostname: hostname(), pid: await deadPid(), startedAt: '2026-01-01T00:00:00.000Z'})
    writeFileSync(lockPath, stale)
    const marker = `${lockPath}.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`
    writeFileSync(marker, JSON.stringify({command: 'upgrade', hostname: hostname(), pid: await deadPid(), startedAt: '2026-01-01T00:00:01.000Z'}))
    expect(await acquire()).toBeDefined()
    expect(readdirSync(join(dir, '.agnes'))).toEqual(['lock'])
  })

  it('reports a lock it cannot write as a configuration problem', async () => {
    writeFileSync(join(dir, 'not-a-directory'), '')
    await expect(acquireLock(join(dir, 'not-a-directory', 'lock'), {command: 'upgrade'})).rejects.toThrow(InvalidInputError)
  })

  it('takes over a lock written by another host or damaged', async () => {
    await acquire()
    writeForeignLock({hostname: 'previous-vm', pid: process.ppid})
    expect(await acquire()).toBeDefined()
    writeFileSync(lockPath, '{"pid": 12')
    expect(await readLock(lockPath)).toBeUndefined()
    expect(await acquire()).toBeDefined()
  })
})

describe('acquireLock across processes', () => {
  const contenders = 10

  /** Compiles lock.ts and the one module it imports, for plain node children. */
  function writeContenderScript(): string {
    writeFileSync(join(dir, 'package.json'), '{"type": "module"}')
    mkdirSync(join(dir, 'instance'), {recursive: true})
    for (const module of ['instance/lock-file', 'errors']) {
      const source = readFileSync(fileURLToPath(new URL(`../../../src/lib/${module}.ts`, import.meta.url)), 'utf8')
      const compiled = ts.transpileModule(source, {compilerOptions: {module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022}})
      writeFileSync(join(dir, `${module}.js`), compiled.outputText)
    }

    const script = join(dir, 'contender.mjs')
    writeFileSync(
      script,
      `import {acquireLock} from './instance/lock-file.js'
const [lockPath, startAt] = process.argv.slice(2)
await new Promise((resolve) => setTimeout(resolve, Number(startAt) - Date.now()))
const handle = await acquireLock(lockPath, {command: 'contender'})
process.stdout.write(handle ? 'won\\n' : 'lost\\n')
process.stdin.resume()
process.stdin.on('end', async () => {
  await handle?.release()
})
`,
    )
    return script
  }

  /** Starts the contenders together; each reports, and a winner holds the lock until the parent lets go. */
  async function race(): Promise<string[]> {
    const script = writeContenderScript()
    const startAt = Date.now() + 1500
    const children: ChildProcess[] = Array.from({length: contenders}, () =>
      spawn(process.execPath, [script, lockPath, String(startAt)], {stdio: ['pipe', 'pipe', 'inherit']}),
    )
    try {
      return await Promise.all(
        children.map(
          (child) =>
            new Promise<string>((resolve, reject) => {
              child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()))
              child.once('exit', (code) => reject(new Error(`a contender exited (${code}) before it reported`)))
            }),
        ),
      )
    } finally {
      for (const child of children) child.stdin?.end()
      await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)))
    }
  }

  it('lets exactly one of 10 simultaneous processes win', async () => {
    const results = await race()
    expect(results.filter((result) => result === 'won')).toHaveLength(1)
    expect(results.filter((result) => result === 'lost')).toHaveLength(contenders - 1)
    expect(readdirSync(join(dir, '.agnes'))).toEqual([])
  })

  it('lets exactly one of 10 simultaneous processes take over a stale lock', async () => {
    await acquire()
    rmSync(lockPath)
    writeForeignLock({pid: await deadPid()})
    const results = await race()
    expect(results.filter((result) => result === 'won')).toHaveLength(1)
    expect(readdirSync(join(dir, '.agnes'))).toEqual([])
  })
})
