import {existsSync} from 'node:fs'

import {DockerError, InterruptedError, InvalidInputError} from '../errors.js'
import {InstancePaths} from '../instance/paths.js'
import {redact} from '../secrets/redact.js'

export type ComposeFlavour = 'v2' | 'v1'

export interface ComposeCommand {
  flavour: ComposeFlavour
  /** argv prefix: ['docker', 'compose'] or ['docker-compose']. */
  argv: string[]
  version: string
}

export interface CommandResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** Runs a program with an argument array (never a shell string); injectable for tests. */
export type CommandRunner = (file: string, args: string[], options: {cwd?: string; signal?: AbortSignal; timeoutMs?: number}) => Promise<CommandResult>

export const execaRunner: CommandRunner = async (file, args, options) => {
  const {execa} = await import('execa')
  const result = await execa(file, args, {
    cancelSignal: options.signal,
    cwd: options.cwd,
    encoding: 'utf8',
    reject: false,
    stdin: 'ignore',
    timeout: options.timeoutMs,
  })
  if (result.isCanceled) throw new InterruptedError()
  if (result.failed && result.exitCode === undefined) {
    return {exitCode: 127, stderr: String(result.originalMessage ?? result.message ?? ''), stdout: ''}
  }

  return {exitCode: result.exitCode ?? 1, stderr: String(result.stderr ?? ''), stdout: String(result.stdout ?? '')}
}

/** Compose 2.x and later (docker-ce ships 5.x) share the v2 behaviour; 1.x is the Python v1. */
function isPluginEra(version: string): boolean {
  const major = /^v?(\d+)\./.exec(version)?.[1]
  return major !== undefined && Number(major) >= 2
}

export type ComposePreference = ComposeFlavour | 'auto'

/** AGNES_COMPOSE=v1|v2 forces one flavour on a host that has both; unset or `auto` looks for v2 first. */
export function composePreference(value: string | undefined): ComposePreference {
  const wanted = (value ?? '').trim().toLowerCase()
  if (wanted === '' || wanted === 'auto') return 'auto'
  if (wanted === 'v1' || wanted === 'v2') return wanted
  throw new InvalidInputError(`AGNES_COMPOSE must be v1, v2 or auto (it is "${value}")`, {
    hint: 'Unset it to use Compose v2 when it is installed and v1 otherwise.',
  })
}

async function composeV2(run: CommandRunner): Promise<ComposeCommand | undefined> {
  const v2 = await run('docker', ['compose', 'version', '--short'], {timeoutMs: 15_000})
  const version = v2.stdout.trim()
  return v2.exitCode === 0 && isPluginEra(version) ? {argv: ['docker', 'compose'], flavour: 'v2', version} : undefined
}

async function composeStandalone(run: CommandRunner): Promise<ComposeCommand | undefined> {
  const v1 = await run('docker-compose', ['version', '--short'], {timeoutMs: 15_000})
  const version = v1.stdout.trim()
  return v1.exitCode === 0 && version !== '' ? {argv: ['docker-compose'], flavour: isPluginEra(version) ? 'v2' : 'v1', version} : undefined
}

/** Finds Docker Compose: the v2 plugin (`docker compose`) first, then the standalone binary (`docker-compose`). */
export async function detectCompose(run: CommandRunner = execaRunner, preference: ComposePreference = composePreference(process.env.AGNES_COMPOSE)): Promise<ComposeCommand> {
  if (preference === 'v2') {
    const found = (await composeV2(run)) ?? (await composeStandalone(run))
    if (found?.flavour === 'v2') return found
    throw new DockerError('AGNES_COMPOSE=v2, but Docker Compose v2 was not found', {hint: 'Install the Compose plugin (docker-compose-plugin), or unset AGNES_COMPOSE.'})
  }

  if (preference === 'v1') {
    const found = await composeStandalone(run)
    if (found?.flavour === 'v1') return found
    throw new DockerError('AGNES_COMPOSE=v1, but the Compose v1 binary `docker-compose` (1.x) was not found', {hint: 'Install the docker-compose package, or unset AGNES_COMPOSE.'})
  }

  const found = (await composeV2(run)) ?? (await composeStandalone(run))
  if (found) return found
  throw new DockerError('Docker Compose was not found (neither `docker compose` nor `docker-compose`)', {
    hint: 'Install the Compose plugin (docker-compose-plugin) or the docker-compose package.',
  })
}

export interface ComposeProject {
  paths: InstancePaths
  project: string
  profiles: string[]
}

/**
 * Builds the arguments every compose call starts with. The project name is passed with -p (v1 rejects the
 * top-level `name:` key) and was sanitised so it can never be read as a flag.
 */
export function projectArgs(target: ComposeProject): string[] {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(target.project)) throw new Error(`unsafe compose project name: ${target.project}`)
  const args = ['-p', target.project, '-f', target.paths.compose]
  if (existsSync(target.paths.override)) args.push('-f', target.paths.override)
  for (const profile of target.profiles) args.push('--profile', profile)
  return args
}

export class Compose {
  constructor(
    readonly command: ComposeCommand,
    readonly target: ComposeProject,
    private readonly run: CommandRunner = execaRunner,
  ) {}

  /** Runs one compose subcommand; a failure is a DockerError quoting the tail of compose's output. */
  async exec(args: string[], options: {signal?: AbortSignal; timeoutMs?: number} = {}): Promise<CommandResult> {
    const [file, ...prefix] = this.command.argv
    const fullArgs = [...prefix, ...projectArgs(this.target), ...args]
    const result = await this.run(file, fullArgs, {cwd: this.target.paths.dir, signal: options.signal, timeoutMs: options.timeoutMs ?? 15 * 60_000})
    if (result.exitCode !== 0) {
      const output = (result.stderr || result.stdout).trim()
      const tail = output.split('\n').slice(-6).join('\n')
      const hint = /setting rlimit type 7/.test(output)
        ? "The engine may not raise the open-file limit to 65536: set AGNES_NOFILE in .env to at most the engine's limit (`ulimit -Hn` of dockerd)."
        : 'Check the compose files with `docker compose config`, and the engine with `docker info`.'
      throw new DockerError(`\`${this.command.argv.join(' ')} ${args.join(' ')}\` failed (exit ${result.exitCode}): ${redact(tail)}`, {hint})
    }

    return result
  }

  /** Starts or updates services in the background; with noDeps only the named services are touched. */
  async up(services: string[], options: {noDeps?: boolean; signal?: AbortSignal} = {}): Promise<void> {
    const args = ['up', '-d', '--remove-orphans']
    if (options.noDeps) args.push('--no-deps')
    await this.exec([...args, ...services], {signal: options.signal})
  }

  /** Stops services with the compose stop_grace_period (60 s) so the app can drain its writes. */
  async stop(services: string[], options: {signal?: AbortSignal} = {}): Promise<void> {
    await this.exec(['stop', ...services], {signal: options.signal})
  }

  /**
   * The services that `up` starts with the active profiles. `config --services` cannot tell: v1 lists
   * services of inactive profiles too, and naming one on `up` would start it.
   */
  async activeServices(options: {signal?: AbortSignal} = {}): Promise<string[]> {
    const YAML = await import('yaml')
    const config = YAML.parse((await this.exec(['config'], {signal: options.signal})).stdout) as {services?: Record<string, {profiles?: string[]}>}
    return Object.entries(config.services ?? {})
      .filter(([, service]) => !service.profiles || service.profiles.length === 0 || service.profiles.some((profile) => this.target.profiles.includes(profile)))
      .map(([name]) => name)
  }
}
