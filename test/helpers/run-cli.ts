import {spawn} from 'node:child_process'
import {appendFileSync, mkdirSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const binPath = join(repoRoot, 'bin', 'run.js')
/** Every byte the CLI printed during the e2e suite, so the secret scan can read it all at the end. */
export const transcriptFile = join(repoRoot, '.e2e-tmp', 'transcript.log')

export interface CliResult {
  exitCode: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** stdout parsed as JSON when it is exactly one JSON document, else undefined. */
  json: any
  durationMs: number
}

export interface RunOptions {
  env?: Record<string, string | undefined>
  cwd?: string
  input?: string
  timeoutMs?: number
  /** Called with the child once spawned (to kill it mid-run, for example). */
  onSpawn?: (child: ReturnType<typeof spawn>) => void
  /** Run this executable (the single-file binary) instead of `node bin/run.js`. */
  executable?: string
  /** The environment to start from instead of this process's (`env` and NO_COLOR=1 are added to it). */
  baseEnv?: Record<string, string | undefined>
}

/** Runs the built CLI as a subprocess, without a terminal, as cron or an agent would. */
export function runAgnes(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const started = Date.now()
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries({...(options.baseEnv ?? process.env), NO_COLOR: '1', ...options.env})) {
    if (value !== undefined) env[key] = value
  }

  return new Promise((resolvePromise, reject) => {
    const [file, argv] = options.executable ? [options.executable, args] : [process.execPath, [binPath, ...args]]
    const child = spawn(file, argv, {cwd: options.cwd ?? repoRoot, env, stdio: ['pipe', 'pipe', 'pipe']})
    options.onSpawn?.(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000)
    child.on('error', reject)
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer)
      let json: any
      try {
        json = JSON.parse(stdout)
      } catch {
        json = undefined
      }

      mkdirSync(dirname(transcriptFile), {recursive: true})
      appendFileSync(transcriptFile, `\n$ ${options.executable ? 'agnes-binary' : 'agnes'} ${args.join(' ')}\n--- stdout\n${stdout}\n--- stderr\n${stderr}\n`)
      resolvePromise({durationMs: Date.now() - started, exitCode, json, signal, stderr, stdout})
    })
    if (options.input !== undefined) child.stdin.end(options.input)
    else child.stdin.end()
  })
}
