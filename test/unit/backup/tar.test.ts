import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {type TarInput, writeTar} from '../../../src/lib/backup/tar.js'
import {InvalidInputError} from '../../../src/lib/errors.js'
import {chunked, entriesOf, extract} from './tar-helpers.js'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-backup-test-'))
})

afterEach(() => {
  rmSync(dir, {force: true, recursive: true})
})

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
