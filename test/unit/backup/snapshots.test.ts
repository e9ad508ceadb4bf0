import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import type Dockerode from 'dockerode'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {
  backupState,
  buildRestoreArchive,
  planRestore,
  pruneBackups,
  readTar,
  restoreState,
  type TarEntry,
  type TarInput,
  writeTar,
} from '../../../src/lib/backup/snapshots.js'
import {DockerEngine} from '../../../src/lib/docker/engine.js'
import {ConflictError, InvalidInputError} from '../../../src/lib/errors.js'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-backup-test-'))
})

afterEach(() => {
  rmSync(dir, {force: true, recursive: true})
})

async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size)
}

async function entriesOf(source: AsyncIterable<Uint8Array>, content = true): Promise<TarEntry[]> {
  const entries: TarEntry[] = []
  for await (const entry of readTar(source, {content})) entries.push(entry)
  return entries
}

/** name → content of the regular files, as a tool extracting the archive in order would leave them. */
function extract(entries: readonly TarEntry[], into = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const entry of entries) if (entry.type === 'file') into.set(entry.name, entry.content ?? Buffer.alloc(0))
  return into
}

const allBytes = Buffer.from(Array.from({length: 256}, (_, index) => index))
const longDir = `state/${'d'.repeat(90)}/${'e'.repeat(60)}`
const sample: TarInput[] = [
  {name: 'state', type: 'directory', mode: 0o700, uid: 999, gid: 999},
  {name: 'state/system.duckdb', type: 'file', content: Buffer.concat([allBytes, randomBytes(70_000)]), mode: 0o600, uid: 999, gid: 999},
  {name: 'state/empty', type: 'file'},
  {name: 'state/exactly-one-block', type: 'file', content: Buffer.alloc(512, 7)},
  {name: 'state/one-more-byte', type: 'file', content: Buffer.alloc(513, 8)},
  {name: 'state/db-jobs/', type: 'directory'},
  {name: 'state/db-jobs/nested/', type: 'directory'},
  {name: 'state/db-jobs/nested/job.json', type: 'file', content: '{"id": 1}\n'},
  {name: longDir, type: 'directory'},
  // 162 characters: fits ustar only when split into the prefix and name fields.
  {name: `${longDir}/split.txt`, type: 'file', content: 'split'},
  // A component longer than 100 characters, and a path over 255: needs a pax header.
  {name: `${longDir}/${'f'.repeat(120)}`, type: 'file', content: 'pax'},
  {name: `state/${'g/'.repeat(140)}deep.txt`, type: 'file', content: 'deep'},
  {name: 'state/žluťoučký kůň 🐎.txt', type: 'file', content: 'non-ascii'},
]

describe('tar writer and reader', () => {
  it('round-trips names, directories, binary and empty contents and metadata, however the stream is chunked', async () => {
    const mtime = new Date('2026-05-04T10:15:30Z')
    const archive = writeTar(sample.map((entry) => ({...entry, mtime})))
    expect(archive.length % 512).toBe(0)
    for (const chunkSize of [archive.length, 4096, 511, 7]) {
      const entries = await entriesOf(chunked(archive, chunkSize))
      expect(entries.map((entry) => entry.name)).toEqual(sample.map((entry) => entry.name.replace(/\/$/, '')))
      for (const [index, entry] of entries.entries()) {
        const input = sample[index]
        expect(entry.type).toBe(input.type)
        expect(entry.mtime).toEqual(mtime)
        if (input.type === 'file') expect(entry.content).toEqual(Buffer.from(input.content ?? ''))
        if (input.mode !== undefined) expect(entry.mode).toBe(input.mode)
        if (input.uid !== undefined) expect([entry.uid, entry.gid]).toEqual([input.uid, input.gid])
      }

      expect(entries.at(-1)?.end).toBe(archive.length - 1024)
    }
  })

  it('skips contents it was not asked for, while reporting their sizes', async () => {
    const entries = await entriesOf(chunked(writeTar(sample), 1000), false)
    expect(entries.every((entry) => entry.content === undefined)).toBe(true)
    expect(entries.find((entry) => entry.name === 'state/system.duckdb')?.size).toBe(70_256)
  })

  it('writes archives that GNU tar reads, and reads what GNU tar writes', async () => {
    const ours = join(dir, 'ours.tar')
    writeFileSync(ours, writeTar(sample))
    const listed = execFileSync('tar', ['-tf', ours], {encoding: 'utf8'}).trimEnd().split('\n')
    expect(listed).toEqual(sample.map((entry) => (entry.type === 'directory' ? `${entry.name.replace(/\/$/, '')}/` : entry.name)))

    const source = join(dir, 'source')
    const longName = `state/${'h'.repeat(150)}/${'i'.repeat(120)}.bin`
    mkdirSync(join(source, 'state', 'h'.repeat(150)), {recursive: true})
    writeFileSync(join(source, longName), allBytes)
    writeFileSync(join(source, 'state', 'small'), 'x')
    const gnuArchive = join(dir, 'gnu.tar')
    execFileSync('tar', ['--format=gnu', '-cf', gnuArchive, '-C', source, 'state'])
    const files = extract(await entriesOf(chunked(readFileSync(gnuArchive), 1024)))
    expect(files.get(longName)).toEqual(allBytes)
    expect(files.get('state/small')?.toString()).toBe('x')
  })

  it('rejects a damaged header and a truncated archive', async () => {
    const archive = writeTar(sample)
    const damaged = Buffer.from(archive)
    damaged[3] ^= 0xff
    await expect(entriesOf(chunked(damaged, 512))).rejects.toThrow(InvalidInputError)
    await expect(entriesOf(chunked(archive.subarray(0, 2048), 512))).rejects.toThrow(/truncated/)
    await expect(entriesOf(chunked(Buffer.alloc(0), 512))).rejects.toThrow(/truncated/)
  })
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

describe('pruneBackups', () => {
  it('keeps the newest backups, other files, and a backup still being written', async () => {
    const backupsDir = join(dir, 'backups')
    mkdirSync(backupsDir)
    const names = Array.from({length: 8}, (_, index) => `2026-05-0${index + 1}T10-15-30.123Z-abcdef012345.tar`)
    for (const name of [...names].reverse()) writeFileSync(join(backupsDir, name), '')
    writeFileSync(join(backupsDir, 'operator-notes.txt'), '')
    writeFileSync(join(backupsDir, '.backup-fresh.tmp'), '')
    writeFileSync(join(backupsDir, '.backup-killed.tmp'), '')
    const yesterday = new Date(Date.now() - 24 * 60 * 60 * 1000)
    utimesSync(join(backupsDir, '.backup-killed.tmp'), yesterday, yesterday)

    const removed = await pruneBackups(backupsDir, 5)
    expect(removed.sort()).toEqual([...names.slice(0, 3), '.backup-killed.tmp'].map((name) => join(backupsDir, name)).sort())
    expect(readdirSync(backupsDir).sort()).toEqual(['.backup-fresh.tmp', ...names.slice(3), 'operator-notes.txt'].sort())
    expect(await pruneBackups(join(dir, 'missing'))).toEqual([])
    await expect(pruneBackups(backupsDir, 0)).rejects.toThrow(InvalidInputError)
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
      putArchive: async (archive: Readable) => archive.resume(),
    }
    const api = {getContainer: () => ignoringContainer} as unknown as Dockerode
    await expect(restoreState(api, 'app', backupFile)).rejects.toThrow(/did not take effect \(state\/system.duckdb has 22 bytes, not 12\)/)
  })
})

/** Needs the Docker engine, and fails without one: CI always has it. */
describe('backupState and restoreState on a real engine', () => {
  const suffix = randomBytes(4).toString('hex')
  const image = `agnes-backup-test:${suffix}`
  const volume = `agnes-backup-test-${suffix}`
  let api: Dockerode
  let container: Dockerode.Container | undefined

  beforeAll(async () => {
    api = (await DockerEngine.connect()).api
    // FROM scratch plus one file: the container is never started, so it needs no program.
    const rootfs = writeTar([{name: 'marker', type: 'file', content: 'agnes backup test\n'}])
    const stream = await api.importImage(Readable.from([rootfs]), {repo: 'agnes-backup-test', tag: suffix})
    await new Promise((resolve, reject) => api.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve(undefined))))
    await api.createVolume({Labels: {'agnes.test': 'backup'}, Name: volume})
    container = await api.createContainer({Cmd: ['/marker'], HostConfig: {Binds: [`${volume}:/data`]}, Image: image, Labels: {'agnes.test': 'backup'}})
  })

  afterAll(async () => {
    await container?.remove({force: true, v: true}).catch(() => {})
    await api?.getVolume(volume).remove().catch(() => {})
    await api?.getImage(image).remove({force: true}).catch(() => {})
  })

  async function stateFiles(): Promise<Map<string, TarEntry>> {
    const archive = (await container!.getArchive({path: '/data/state'})) as unknown as AsyncIterable<Uint8Array>
    return new Map((await entriesOf(archive)).filter((entry) => entry.type === 'file').map((entry) => [entry.name, entry]))
  }

  it('backs up /data/state and makes it equal to the backup again', async () => {
    const database = randomBytes(300_000)
    const owned = {gid: 999, mode: 0o600, uid: 999}
    await container!.putArchive(
      writeTar([
        {name: 'state', type: 'directory', ...owned, mode: 0o700},
        {name: 'state/system.duckdb', type: 'file', content: database, ...owned},
        {name: 'state/.jwt_secret', type: 'file', content: 'jwt', ...owned},
        {name: 'state/db-jobs', type: 'directory', ...owned, mode: 0o700},
        {name: `state/db-jobs/${'j'.repeat(120)}.json`, type: 'file', content: '{}', ...owned},
      ]),
      {path: '/data'},
    )

    const backupsDir = join(dir, 'backups')
    const backup = await backupState(api, container!.id, backupsDir, 'sha256:0123456789ab')
    expect(backup.file).toMatch(/\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-sha256-0123456789ab\.tar$/)
    expect(statSync(backup.file).size).toBe(backup.bytes)
    expect(statSync(backup.file).mode & 0o777).toBe(0o600)
    expect(statSync(backupsDir).mode & 0o777).toBe(0o700)
    expect(readdirSync(backupsDir)).toHaveLength(1)

    // What a newer version does: migrate the database, leave a WAL, add files of its own.
    await container!.putArchive(
      writeTar([
        {name: 'state/system.duckdb', type: 'file', content: 'migrated', ...owned},
        {name: 'state/system.duckdb.wal', type: 'file', content: 'newer WAL', ...owned},
        {name: 'state/.jwt_secret', type: 'file', content: 'jwt', ...owned},
        {name: 'state/new-feature', type: 'directory', ...owned},
        {name: 'state/new-feature/cache.bin', type: 'file', content: randomBytes(1000), ...owned},
      ]),
      {path: '/data'},
    )

    await restoreState(api, container!.id, backup.file)
    const files = await stateFiles()
    expect([...files.keys()].sort()).toEqual(['state/.jwt_secret', `state/db-jobs/${'j'.repeat(120)}.json`, 'state/new-feature/cache.bin', 'state/system.duckdb', 'state/system.duckdb.wal'])
    expect(files.get('state/system.duckdb')?.content).toEqual(database)
    expect(files.get('state/.jwt_secret')?.content?.toString()).toBe('jwt')
    expect(files.get('state/system.duckdb.wal')).toMatchObject({gid: 999, mode: 0o600, size: 0, uid: 999})
    expect(files.get('state/new-feature/cache.bin')?.size).toBe(0)
  })
})
