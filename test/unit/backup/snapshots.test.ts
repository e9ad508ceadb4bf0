import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import type Dockerode from 'dockerode'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {backupState, buildRestoreArchive, planRestore, restoreState} from '../../../src/lib/backup/snapshots.js'
import {type TarEntry, writeTar} from '../../../src/lib/backup/tar.js'
import {ConflictError, InvalidInputError} from '../../../src/lib/errors.js'
import {chunked, entriesOf, extract} from './tar-helpers.js'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-backup-test-'))
})

afterEach(() => {
  rmSync(dir, {force: true, recursive: true})
})

describe('restore plan', () => {
  const entry = (name: string, type: TarEntry['type'] = 'file', size = 1): TarEntry => ({end: 0, gid: 999, mode: 0o600, mtime: new Date(0), name, size, type, uid: 999})
  const backup = [entry('state', 'directory'), entry('state/system.duckdb'), entry('state/certs'), entry('state/db-jobs', 'directory'), entry('state/db-jobs/a.json')]
  const current = [
    entry('state', 'directory'),
    entry('state/system.duckdb'),
    entry('state/system.duckdb.wal'),
    entry('state/certs', 'directory'),
    entry('state/certs/tls.key'),
    entry('state/db-jobs', 'directory'),
    entry('state/db-jobs/a.json'),
    entry('state/db-jobs/b.json'),
    entry('state/new-feature', 'directory'),
    entry('state/new-feature/cache'),
    entry('state/link-from-newer-version', 'symlink', 0),
  ]

  it('truncates every current non-directory the backup lacks, keeping its owner and mode', () => {
    const plan = planRestore(backup, current)
    expect(plan.map((input) => input.name)).toEqual(['state/system.duckdb.wal', 'state/db-jobs/b.json', 'state/new-feature/cache', 'state/link-from-newer-version'])
    expect(plan.every((input) => input.type === 'file' && input.content === undefined && input.uid === 999 && input.mode === 0o600)).toBe(true)
  })

  it('builds one archive that leaves exactly the backup plus empty files', async () => {
    const backupFile = join(dir, 'backup.tar')
    writeFileSync(
      backupFile,
      writeTar([
        {name: 'state', type: 'directory'},
        {name: 'state/system.duckdb', type: 'file', content: 'old database'},
        {name: 'state/.jwt_secret', type: 'file', content: 'old secret'},
      ]),
    )
    const now = writeTar([
      {name: 'state', type: 'directory'},
      {name: 'state/system.duckdb', type: 'file', content: 'new database, migrated'},
      {name: 'state/system.duckdb.wal', type: 'file', content: 'newer WAL'},
      {name: 'state/.jwt_secret', type: 'file', content: 'old secret'},
    ])
    const currentEntries = await entriesOf(chunked(now, 512))
    const restore = await buildRestoreArchive(backupFile, currentEntries)
    const after = extract(await entriesOf(restore.archive), extract(currentEntries))
    expect(Object.fromEntries([...after].map(([name, content]) => [name, content.toString()]))).toEqual({
      'state/.jwt_secret': 'old secret',
      'state/system.duckdb': 'old database',
      'state/system.duckdb.wal': '',
    })
    expect(restore.expected).toEqual(new Map([['state/system.duckdb', 12], ['state/.jwt_secret', 10], ['state/system.duckdb.wal', 0]]))
  })

  it('refuses a backup that is not an archive of state/', async () => {
    const foreign = join(dir, 'foreign.tar')
    writeFileSync(foreign, writeTar([{name: 'etc/passwd', type: 'file', content: 'x'}]))
    await expect(buildRestoreArchive(foreign, [])).rejects.toThrow(/outside state/)
    writeFileSync(foreign, 'not a tar')
    await expect(buildRestoreArchive(foreign, [])).rejects.toThrow(InvalidInputError)
  })
})

describe('backupState and restoreState', () => {
  it('refuse a running container', async () => {
    const api = {getContainer: () => ({inspect: async () => ({State: {Restarting: false, Running: true}})})} as unknown as Dockerode
    await expect(backupState(api, 'app', join(dir, 'backups'), 'x')).rejects.toThrow(ConflictError)
    await expect(restoreState(api, 'app', join(dir, 'missing.tar'))).rejects.toThrow(ConflictError)
  })

  it('notice a restore that the engine accepted but did not apply', async () => {
    const backupFile = join(dir, 'backup.tar')
    writeFileSync(backupFile, writeTar([{name: 'state/system.duckdb', type: 'file', content: 'old database'}]))
    const current = writeTar([{name: 'state/system.duckdb', type: 'file', content: 'new database, migrated'}])
    const ignoringContainer = {
      getArchive: async () => Readable.from([current]),
      inspect: async () => ({State: {Restarting: false, Running: false}}),
      // Reads the whole upload, as the engine does, and applies none of it.
      async putArchive(archive: Readable) {
        for await (const chunk of archive) void chunk
      },
    }
    const api = {getContainer: () => ignoringContainer} as unknown as Dockerode
    await expect(restoreState(api, 'app', backupFile)).rejects.toThrow(/did not take effect \(state\/system.duckdb has 22 bytes, not 12\)/)
  })
})
