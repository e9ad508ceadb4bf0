// Global setup of the `commands` project: its tests spawn the built CLI, so refuse a missing or stale build
// rather than test yesterday's code.
import {readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {repoRoot} from './run-cli.js'

export default function setup(): void {
  const manifest = join(repoRoot, 'oclif.manifest.json')
  let built: number
  try {
    built = statSync(manifest).mtimeMs
  } catch {
    throw new Error('The command tests run the built CLI, and there is none: run `npm run build` first (`npm test` does).')
  }

  const sources = readdirSync(join(repoRoot, 'src'), {recursive: true, withFileTypes: true}).filter((entry) => entry.isFile())
  const newer = sources.map((entry) => join(entry.parentPath, entry.name)).filter((file) => statSync(file).mtimeMs > built)
  if (newer.length > 0) {
    throw new Error(`The built CLI is older than ${newer.length} file(s) of src/ (${newer.slice(0, 3).join(', ')}): run \`npm run build\` first.`)
  }
}
