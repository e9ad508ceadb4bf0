/**
 * A minimal tar (POSIX ustar + pax) reader and writer: regular files, directories and long names. The
 * reader also understands what Docker and GNU tar emit: pax path/size/linkpath records, GNU long names and
 * base-256 numbers.
 */
import {InvalidInputError} from '../errors.js'

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
