import {spawn} from 'node:child_process'

import {composeProfiles} from './deploy/context.js'
import {Compose, CommandRunner, detectCompose, execaRunner, projectArgs} from './docker/compose.js'
import {DockerError, InterruptedError, InvalidInputError, NotFoundError} from './errors.js'
import {loadInstance, parseEnv, readTextIfExists} from './instance/state.js'
import {redact} from './secrets/redact.js'

/**
 * `agnes logs`: the instance's `compose logs` with the right flavour and project, every line decoded safely
 * (any bytes), split on newlines and redacted before anyone sees it.
 */

export interface LogsOptions {
  dir: string
  service?: string
  since?: string
  tail?: number
  follow?: boolean
  timestamps?: boolean
  signal?: AbortSignal
  /** Called with each redacted line as soon as it is complete, with the stream compose wrote it to. */
  onLine: (line: string, stream: LogStream) => void
  run?: CommandRunner
  stream?: StreamRunner
}

/** Compose v2 writes what a container wrote to stderr on its own stderr. */
export type LogStream = 'stdout' | 'stderr'

export interface LogsResult {
  project: string
  compose: string
  service: string | null
  lines: number
}

/** Runs a program with an argument array, handing its output over as it arrives; injectable for tests. */
export type StreamRunner = (
  file: string,
  args: string[],
  options: {cwd: string; signal?: AbortSignal; onStdout: (chunk: Uint8Array) => void; onStderr: (chunk: Uint8Array) => void},
) => Promise<{exitCode: number}>

export const spawnStreamRunner: StreamRunner = (file, args, options) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, {cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe']})
    const stop = () => child.kill('SIGTERM')
    options.signal?.addEventListener('abort', stop, {once: true})
    child.stdout.on('data', options.onStdout)
    child.stderr.on('data', options.onStderr)
    child.on('error', (error) => {
      options.signal?.removeEventListener('abort', stop)
      reject(error)
    })
    child.on('close', (code) => {
      options.signal?.removeEventListener('abort', stop)
      resolve({exitCode: code ?? 1})
    })
  })

/** UTF-8 decoding that never throws (invalid bytes become U+FFFD) and never splits a character across chunks. */
export class LineSplitter {
  private readonly decoder = new TextDecoder('utf-8')
  private pending = ''

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Uint8Array): void {
    this.pending += this.decoder.decode(chunk, {stream: true})
    const lines = this.pending.split('\n')
    this.pending = lines.pop() ?? ''
    for (const line of lines) this.onLine(line.replace(/\r$/, ''))
  }

  end(): void {
    this.pending += this.decoder.decode()
    if (this.pending !== '') this.onLine(this.pending.replace(/\r$/, ''))
    this.pending = ''
  }
}

/** Docker's --since: a Unix time, an RFC 3339 date or time, or a duration such as 10m or 1h30m. */
const SINCE_PATTERN = /^(?:\d+(?:\.\d+)?|\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?|(?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+)$/

export function validateSince(value: string): string {
  const since = value.trim()
  if (!SINCE_PATTERN.test(since)) {
    throw new InvalidInputError(`--since: "${value}" is not a time agnes can pass on`, {hint: 'Use a duration such as 10m or 2h30m, a date such as 2026-05-01T08:00:00Z, or a Unix timestamp.'})
  }

  return since
}

export function logsArgs(options: {service?: string; since?: string; tail?: number; follow?: boolean; timestamps?: boolean}): string[] {
  const args = ['logs', '--no-color']
  if (options.since !== undefined) args.push('--since', options.since)
  if (options.tail !== undefined) args.push('--tail', String(options.tail))
  if (options.follow) args.push('--follow')
  if (options.timestamps) args.push('--timestamps')
  // `--` so that no service name can be read as a flag.
  if (options.service !== undefined) args.push('--', options.service)
  return args
}

export async function instanceLogs(options: LogsOptions): Promise<LogsResult> {
  const instance = await loadInstance(options.dir)
  // The admin password agnes kept is a secret of this instance too (loading .env registered the others).
  const secretsText = await readTextIfExists(instance.paths.secretsFile)
  if (secretsText !== undefined) parseEnv(secretsText, instance.paths.secretsFile)

  const since = options.since === undefined ? undefined : validateSince(options.since)
  const run = options.run ?? execaRunner
  const command = await detectCompose(run)
  if (since !== undefined && command.flavour === 'v1') {
    throw new InvalidInputError('--since needs Docker Compose v2; this host runs Compose v1, whose `logs` has no --since', {hint: 'Use --tail instead, or install the Compose v2 plugin.'})
  }

  const compose = new Compose(command, {paths: instance.paths, profiles: composeProfiles(instance.state), project: instance.state.project}, run)
  if (options.service !== undefined) {
    const services = (await compose.exec(['config', '--services'], {signal: options.signal})).stdout.split('\n').map((line) => line.trim()).filter(Boolean)
    if (!services.includes(options.service)) {
      throw new NotFoundError(`no service "${options.service}" in this instance`, {hint: `Services: ${services.join(', ')}.`})
    }
  }

  let lines = 0
  const stdout = new LineSplitter((line) => {
    lines++
    options.onLine(redact(line), 'stdout')
  })
  const stderrTail: string[] = []
  const stderr = new LineSplitter((line) => {
    lines++
    stderrTail.push(redact(line))
    if (stderrTail.length > 6) stderrTail.shift()
    options.onLine(redact(line), 'stderr')
  })
  const [file, ...prefix] = command.argv
  const args = [...prefix, ...projectArgs(compose.target), ...logsArgs({...options, since})]
  const {exitCode} = await (options.stream ?? spawnStreamRunner)(file, args, {
    cwd: instance.paths.dir,
    onStderr: (chunk) => stderr.push(chunk),
    onStdout: (chunk) => stdout.push(chunk),
    signal: options.signal,
  })
  stdout.end()
  stderr.end()
  if (options.signal?.aborted) throw options.signal.reason instanceof InterruptedError ? options.signal.reason : new InterruptedError()
  if (exitCode !== 0) {
    throw new DockerError(`\`${command.argv.join(' ')} logs\` failed (exit ${exitCode}): ${stderrTail.join('\n')}`, {hint: 'Check the engine with `docker info` and the instance with `agnes status`.'})
  }

  return {compose: `${command.argv.join(' ')} ${command.version}`, lines, project: instance.state.project, service: options.service ?? null}
}
