// Process helpers, statistics and small utilities for the benchmark (plain Node, no dependencies).
import {spawn, spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {dirname, join, resolve} from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const binPath = join(repoRoot, 'bin', 'run.js')

/** Children started by runAsync and still running, so an interrupted bench can stop them. */
export const activeChildren = new Set()

export const sleep = (ms) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms))
export const now = () => performance.timeOrigin + performance.now()

/** Progress for the person watching; the report itself goes to stdout at the end. */
export function say(message) {
  process.stderr.write(`bench: ${message}\n`)
}

/** Runs a command to completion, synchronously; never throws for a non-zero exit. */
export function run(command, args, options = {}) {
  const started = performance.now()
  const result = spawnSync(command, args, {cwd: options.cwd ?? repoRoot, encoding: 'utf8', env: options.env ? {...process.env, ...options.env} : process.env, input: options.input, maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 300_000})
  return {
    code: result.status,
    signal: result.signal,
    error: result.error?.message,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    ms: performance.now() - started,
  }
}

/** Runs a command asynchronously (so probers and watchers keep running meanwhile). */
export function runAsync(command, args, options = {}) {
  return new Promise((resolvePromise) => {
    const started = performance.now()
    const startedAt = now()
    // Its own process group, so that an interrupted bench can stop it with everything it started (compose).
    const child = spawn(command, args, {cwd: options.cwd ?? repoRoot, detached: true, env: options.env ? {...process.env, ...options.env} : process.env, stdio: ['pipe', 'pipe', 'pipe']})
    activeChildren.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk) => (stderr += chunk.toString('utf8')))
    const timer = setTimeout(() => killGroup(child), options.timeoutMs ?? 600_000)
    child.on('error', (error) => {
      activeChildren.delete(child)
      clearTimeout(timer)
      resolvePromise({code: null, signal: null, error: error.message, stdout, stderr, ms: performance.now() - started, startedAt, endedAt: now()})
    })
    child.on('close', (code, signal) => {
      activeChildren.delete(child)
      clearTimeout(timer)
      resolvePromise({code, signal, stdout, stderr, ms: performance.now() - started, startedAt, endedAt: now()})
    })
    child.stdin.end(options.input ?? '')
  })
}

/** SIGKILLs a child started by runAsync together with its own children (its process group). */
export function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    child.kill('SIGKILL')
  }
}

/** Runs the built CLI as cron or an agent would: a subprocess without a terminal, no colour. */
export async function runAgnes(args, options = {}) {
  const result = await runAsync(process.execPath, [binPath, ...args], {...options, env: {NO_COLOR: '1', ...options.env}})
  let json
  try {
    json = JSON.parse(result.stdout)
  } catch {
    json = undefined
  }

  return {...result, json}
}

/** A short description of a failed CLI run for the report (never the whole output). */
export function describeFailure(result) {
  const error = result.json?.error
  if (error) return `exit ${result.code}: ${error.code}: ${error.message}`
  const tail = `${result.stderr}\n${result.stdout}`.trim().split('\n').slice(-3).join(' | ')
  return `exit ${result.code}${result.signal ? ` (${result.signal})` : ''}${result.error ? ` (${result.error})` : ''}: ${tail.slice(0, 400)}`
}

export function stats(values) {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return {n: 0, median: null, min: null, max: null, mean: null}
  const middle = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length
  return {n: sorted.length, median: round(median), min: round(sorted[0]), max: round(sorted.at(-1)), mean: round(mean)}
}

export function round(value, digits = 1) {
  if (value === null || value === undefined || !Number.isFinite(value)) return value ?? null
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

export async function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolvePromise(address.port))
    })
  })
}

/** The open-file limit the engine can grant a container (as test/e2e/fixtures.ts engineOpenFileLimit). */
export function engineOpenFileLimit() {
  const pid = run('pgrep', ['-xo', 'dockerd']).stdout.trim()
  let limits
  try {
    limits = readFileSync(pid ? `/proc/${pid}/limits` : '/proc/self/limits', 'utf8')
  } catch {
    limits = readFileSync('/proc/self/limits', 'utf8')
  }

  const match = /Max open files\s+\d+\s+(\d+)/.exec(limits)
  return Math.min(65_536, match ? Number(match[1]) : 1024)
}
