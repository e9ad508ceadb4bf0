import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import {ConflictError} from '../errors.js'
import {writeFileAtomic} from '../fs-atomic.js'
import {InstancePaths} from './paths.js'
import {InstanceState, readTextIfExists} from './state.js'

/** The bundled CLI carries templates/ as strings (scripts/bundle.mjs), so a single executable needs no files. */
declare const AGNES_TEMPLATES: Record<string, string> | undefined

export async function readTemplate(name: string): Promise<string> {
  if (typeof AGNES_TEMPLATES !== 'undefined') {
    const template = AGNES_TEMPLATES[name]
    if (template === undefined) throw new Error(`no template ${name} in the bundle`)
    return template
  }

  return readFile(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'templates', name), 'utf8')
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** The managed docker-compose.yml for an image reference (a digest reference once deployed). */
export async function renderCompose(imageReference: string): Promise<string> {
  if (!/^[a-z0-9][a-z0-9._:/@-]*$/i.test(imageReference)) throw new Error(`refusing to render an unsafe image reference: ${imageReference}`)
  return (await readTemplate('docker-compose.yml')).replaceAll('{{IMAGE}}', imageReference)
}

/** The file key used in state.managedFiles. */
export function managedKey(paths: InstancePaths, file: string): string {
  return relative(paths.dir, file)
}

/**
 * True when a managed file on disk differs from what agnes last wrote (a hand edit). A file agnes has no
 * record of, but which exists, counts as hand-made too.
 */
export async function isHandEdited(paths: InstancePaths, state: Pick<InstanceState, 'managedFiles'> | undefined, file: string): Promise<boolean> {
  const onDisk = await readTextIfExists(file)
  if (onDisk === undefined) return false
  const recorded = state?.managedFiles[managedKey(paths, file)]
  return recorded === undefined || recorded !== sha256(onDisk)
}

/**
 * Rewrites a managed file, refusing to overwrite a hand edit unless forced, and records its hash in state
 * (the caller persists the state). Returns whether the content changed.
 */
export async function writeManagedFile(
  paths: InstancePaths,
  state: InstanceState,
  file: string,
  content: string,
  options: {force?: boolean; mode?: number} = {},
): Promise<boolean> {
  const onDisk = await readTextIfExists(file)
  if (onDisk === content) {
    state.managedFiles[managedKey(paths, file)] = sha256(content)
    return false
  }

  if (!options.force && (await isHandEdited(paths, state, file))) {
    throw new ConflictError(`${managedKey(paths, file)} was edited by hand; agnes will not overwrite it`, {
      hint: 'Move your changes to docker-compose.override.yml, then run `agnes init --force` to restore the managed file.',
    })
  }

  await writeFileAtomic(file, content, options.mode ?? 0o644)
  state.managedFiles[managedKey(paths, file)] = sha256(content)
  return true
}
