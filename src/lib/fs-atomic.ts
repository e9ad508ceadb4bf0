import {randomBytes} from 'node:crypto'
import {mkdir, open, rename, rm} from 'node:fs/promises'
import {dirname, join} from 'node:path'

import {assertSafePath} from './instance/safe-path.js'

/**
 * Writes a file atomically: a temporary file in the same directory, fsync, then rename over the target.
 * A crash leaves either the old or the new content, never a half-written file. The mode is applied to
 * the temporary file before any content is written, so a secret file is never readable by others. No part
 * of the path may be a symbolic link (safe-path.ts), so a link never redirects the write or the mode.
 */
export async function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  await assertSafePath(path, 'file')
  const dir = dirname(path)
  await mkdir(dir, {recursive: true})
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(tmp, 'wx', mode)
  try {
    await handle.chmod(mode)
    await handle.writeFile(content)
    await handle.sync()
  } catch (error) {
    await handle.close()
    await rm(tmp, {force: true})
    throw error
  }

  await handle.close()
  try {
    // rename replaces a link at `path` rather than following it; the mode is already on the file.
    await rename(tmp, path)
  } catch (error) {
    await rm(tmp, {force: true})
    throw error
  }
}
