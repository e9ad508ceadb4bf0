import {mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {AgnesError, UnsafePathError} from '../../../src/lib/errors.js'
import {writeFileAtomic} from '../../../src/lib/fs-atomic.js'
import {appendHistory} from '../../../src/lib/deploy/history.js'
import {instancePaths} from '../../../src/lib/instance/paths.js'
import {readTextIfExists} from '../../../src/lib/instance/state.js'

let root: string
let dir: string
let outside: string

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'agnes-safe-path-')))
  dir = join(root, 'instance')
  outside = join(root, 'outside')
  mkdirSync(dir)
  mkdirSync(outside)
})

afterEach(() => rmSync(root, {force: true, recursive: true}))

async function rejection(promise: Promise<unknown>): Promise<AgnesError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(AgnesError)
  return error as AgnesError
}

describe('the writers and readers of instance files never go through a symbolic link', () => {
  it('writeFileAtomic refuses a linked directory on the way and writes nothing where it points', async () => {
    symlinkSync(outside, join(dir, '.agnes'))
    const error = await rejection(writeFileAtomic(instancePaths(dir).stateFile, '{}', 0o600))
    expect(error).toBeInstanceOf(UnsafePathError)
    expect(error.exitCode).toBe(3)
    expect(error.message).toBe(`${join(dir, '.agnes')} is a symbolic link (to ${outside}); agnes does not follow links inside an instance directory`)
    expect(readdirSync(outside)).toEqual([])
  })

  it('writeFileAtomic refuses a file that is a link, leaving its target as it was', async () => {
    writeFileSync(join(outside, 'target'), 'theirs', {mode: 0o644})
    symlinkSync(join(outside, 'target'), join(dir, '.env'))
    await rejection(writeFileAtomic(join(dir, '.env'), 'SECRET=1\n', 0o600))
    expect(readFileSync(join(outside, 'target'), 'utf8')).toBe('theirs')
    expect(statSync(join(outside, 'target')).mode & 0o777).toBe(0o644)
  })

  it('writeFileAtomic still gives the file exactly the mode asked for, whatever the umask', async () => {
    const previous = process.umask(0o077)
    try {
      await writeFileAtomic(join(dir, 'config', 'instance.yaml'), 'x: 1\n', 0o644)
    } finally {
      process.umask(previous)
    }

    expect(statSync(join(dir, 'config', 'instance.yaml')).mode & 0o777).toBe(0o644)
  })

  it('appendHistory refuses a history.jsonl that is a link', async () => {
    mkdirSync(join(dir, '.agnes'))
    writeFileSync(join(outside, 'log'), '')
    symlinkSync(join(outside, 'log'), join(dir, '.agnes', 'history.jsonl'))
    await rejection(appendHistory(instancePaths(dir), {action: 'up', durationMs: 1, outcome: 'upgraded', time: new Date().toISOString()}))
    expect(readFileSync(join(outside, 'log'), 'utf8')).toBe('')
  })

  it('readTextIfExists: a link is refused, a missing file is undefined, a directory is exit 3 naming it', async () => {
    writeFileSync(join(outside, 'env'), 'A=1\n')
    symlinkSync(join(outside, 'env'), join(dir, '.env'))
    expect(await rejection(readTextIfExists(join(dir, '.env')))).toBeInstanceOf(UnsafePathError)
    expect(await readTextIfExists(join(dir, 'missing'))).toBeUndefined()
    mkdirSync(join(dir, 'config'))
    const error = await rejection(readTextIfExists(join(dir, 'config')))
    expect(error.exitCode).toBe(3)
    expect(error.message).toBe(`${join(dir, 'config')} is a directory, but agnes needs a regular file there`)
  })
})

describe('instancePaths resolves the instance directory once', () => {
  it('to its real path when reached through a link, keeping a tail that does not exist yet', () => {
    const link = join(root, 'opt-agnes')
    symlinkSync(dir, link)
    expect(instancePaths(link).dir).toBe(dir)
    expect(instancePaths(link).env).toBe(join(dir, '.env'))
    expect(instancePaths(join(link, 'new', 'instance')).dir).toBe(join(dir, 'new', 'instance'))
  })

  it('refuses a directory that is a file or lies under one, with exit 3 naming the file', () => {
    writeFileSync(join(root, 'file'), '')
    expect(() => instancePaths(join(root, 'file'))).toThrow(`the instance directory must be a directory, but ${join(root, 'file')} is a file`)
    expect(() => instancePaths(join(root, 'file', 'x', 'y'))).toThrow(`${join(root, 'file', 'x', 'y')} lies under ${join(root, 'file')}, which is a file`)
  })
})
