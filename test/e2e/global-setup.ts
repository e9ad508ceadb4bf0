import {spawnSync} from 'node:child_process'
import {existsSync, rmSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {repoRoot, transcriptFile} from '../helpers/run-cli.js'

/**
 * The end-to-end suite needs a Docker engine, a local registry and the built CLI. It starts what is missing
 * and fails loudly when it cannot: these tests must run, never skip.
 */
export default async function setup(): Promise<void> {
  // The secret scan reads what this run printed; start it from nothing.
  rmSync(dirname(transcriptFile), {force: true, recursive: true})
  const started = spawnSync('bash', [join(repoRoot, 'test', 'infra', 'start-docker.sh')], {encoding: 'utf8', stdio: ['ignore', 'inherit', 'inherit']})
  if (started.status !== 0) throw new Error('test/infra/start-docker.sh could not start the Docker engine and the local registry')
  if (!existsSync(join(repoRoot, 'dist', 'commands'))) throw new Error('the CLI is not built: run `npm run build` (npm test does it)')
  const {ensureBaseImage} = await import('../standin/images.mjs')
  await ensureBaseImage()
}
