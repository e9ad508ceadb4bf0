import {statfs} from 'node:fs/promises'
import {createServer} from 'node:net'
import {basename} from 'node:path'

import {checkBackupRoom} from '../backup/retention.js'
import {validateCaddyConfig} from '../docker/caddy-validate.js'
import {nofileFinding} from '../doctor/findings.js'
import {AgnesError, DiskFullError, DockerError, InvalidInputError, NotFoundError} from '../errors.js'
import {isHandEdited} from '../instance/managed-files.js'
import {InstancePaths} from '../instance/paths.js'
import {instancePort, readTextIfExists} from '../instance/state.js'
import {APP_SERVICE, DeployContext} from './context.js'
import {MIN_FREE_DISK, memoryBytes} from './host-requirements.js'
import {ensureImage} from './start.js'

async function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}

/**
 * The open-file limit the app container asks for (AGNES_NOFILE) must be one the engine can grant: above
 * it runc refuses to start the container, after the old version was stopped. Unknown limits pass.
 */
export function checkOpenFileLimit(ctx: DeployContext): void {
  const limit = ctx.engineOpenFileLimit()
  const finding = nofileFinding({configured: ctx.instance.env.get('AGNES_NOFILE'), engineLimit: limit.limit, engineWhy: limit.why, instance: true})
  if (finding.status === 'fail') throw new InvalidInputError(`${finding.message}; nothing was changed`, {hint: finding.fix})
}

/** Checks that the instance can run here; returns warnings, throws what would make `up` fail anyway. */
export async function preflight(ctx: DeployContext): Promise<string[]> {
  const warnings: string[] = []
  const {env, state} = ctx.instance
  const info = await ctx.engine.info()
  const appLimit = memoryBytes(env.get('AGNES_APP_MEM_LIMIT'))
  if (appLimit && info.memTotal && appLimit > info.memTotal) {
    warnings.push(`AGNES_APP_MEM_LIMIT (${env.get('AGNES_APP_MEM_LIMIT')}) is more than the engine's memory (${(info.memTotal / 1024 ** 3).toFixed(1)} GiB).`)
  }

  try {
    const disk = await statfs(info.dockerRootDir)
    const free = disk.bavail * disk.bsize
    if (free < MIN_FREE_DISK) {
      throw new DiskFullError(`only ${(free / 1024 ** 3).toFixed(1)} GiB free under ${info.dockerRootDir}; an image pull needs at least 2 GiB`, {
        hint: 'Free space (`docker image prune`, old logs) and re-run.',
      })
    }
  } catch (error) {
    if (error instanceof AgnesError) throw error
    // The engine's root directory is not visible from here (a remote engine): nothing to check.
  }

  checkOpenFileLimit(ctx)
  const running = await ctx.engine.projectContainers(state.project, APP_SERVICE)
  const ours = running.some((container) => container.state === 'running')
  const port = instancePort(env)
  if (!ours && !(await portIsFree(port, env.get('AGNES_HTTP_BIND') ?? '0.0.0.0'))) {
    throw new InvalidInputError(`port ${port} is already in use on this host`, {hint: 'Stop what uses it, or choose another port with `agnes init --http-port <port>`.'})
  }

  await checkComposeConfig(ctx)
  return warnings
}

/**
 * Compose v2 reports a YAML error without naming the file, so agnes names it: the first compose file that does
 * not parse, with the parser's first line (never the file's content, which may hold secrets).
 */
async function unparsableComposeFile(paths: InstancePaths): Promise<string | undefined> {
  const YAML = await import('yaml')
  for (const file of [paths.compose, paths.override]) {
    const text = await readTextIfExists(file)
    if (text === undefined) continue
    const [problem] = YAML.parseDocument(text).errors
    if (problem) return `${basename(file)} is not valid YAML: ${problem.message.split('\n')[0]}`
  }

  return undefined
}

/** The merged compose config (managed file, override, .env) as Compose parses it, and with TLS the Caddy config as Caddy does; invalid is exit 3. */
export async function checkComposeConfig(ctx: DeployContext): Promise<void> {
  try {
    await ctx.compose.exec(['config', '-q'], {signal: ctx.signal})
  } catch (error) {
    const composeSaid = (error as Error).message.replace(/^`[^`]*` failed \(exit \d+\): /, '')
    throw new InvalidInputError(`the compose files are invalid: ${(await unparsableComposeFile(ctx.instance.paths)) ?? composeSaid}`, {
      hint: 'Fix docker-compose.override.yml or .env by hand, or run `agnes init --force` to restore docker-compose.yml.',
    })
  }

  // The Caddyfile and cert files are checked by Caddy itself before anything restarts.
  if (ctx.instance.state.tls !== 'none') await validateCaddyConfig(ctx.instance, ctx.compose, ctx.signal)
}

/**
 * Everything that could make a switch fail before the new version starts, checked while the old one
 * keeps serving: the engine, the merged compose config, a hand edit of the managed compose file, the
 * open-file limit, the target image on this host (pulled when allowed), room for the state backup.
 * Nothing is stopped and no journal is written until all of it holds (docs/design.md#check-the-plan-before-arming-recovery).
 */
export async function checkSwitchPlan(ctx: DeployContext, reference: string, options: {allowPull: boolean; afterPull?: () => Promise<void>}): Promise<void> {
  const {paths, state} = ctx.instance
  try {
    await ctx.engine.api.ping()
  } catch (error) {
    throw new DockerError(`the Docker engine does not answer (${(error as Error).message}); nothing was changed`, {hint: 'Check the engine (`docker info`) and re-run.'})
  }

  await checkComposeConfig(ctx)
  if (await isHandEdited(paths, state, paths.compose)) {
    throw new InvalidInputError('docker-compose.yml was edited by hand; agnes will not overwrite it, so nothing was changed', {
      hint: 'Move your changes to docker-compose.override.yml, then run `agnes init --force` to restore the managed file.',
    })
  }

  checkOpenFileLimit(ctx)
  if (options.allowPull) await ensureImage(ctx, reference)
  if (!(await ctx.engine.imageId(reference))) {
    if (!options.allowPull) throw new NotFoundError(`the image ${reference} is not on this host and may not be pulled`, {hint: 'Pick a deployment listed by `agnes history`.'})
    throw new DockerError(`the image ${reference} is not on this host after the pull; nothing was changed`, {hint: 'Check the engine (`docker images --digests`) and re-run.'})
  }

  await checkBackupRoom(paths.backupsDir)
  await options.afterPull?.()
}
