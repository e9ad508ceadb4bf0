import type {TarEntry} from '../../../src/lib/backup/tar.js'
import {readTar} from '../../../src/lib/backup/tar.js'

export async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size)
}

export async function entriesOf(source: AsyncIterable<Uint8Array>, content = true): Promise<TarEntry[]> {
  const entries: TarEntry[] = []
  for await (const entry of readTar(source, {content})) entries.push(entry)
  return entries
}

/** name → content of the regular files, as a tool extracting the archive in order would leave them. */
export function extract(entries: readonly TarEntry[], into = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const entry of entries) if (entry.type === 'file') into.set(entry.name, entry.content ?? Buffer.alloc(0))
  return into
}
