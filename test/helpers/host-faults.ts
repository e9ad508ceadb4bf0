import {spawn, spawnSync} from 'node:child_process'
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'

import {repoRoot} from './run-cli.js'

/**
 * Faults of the host, not of a release: a full disk, a read-only directory, the Docker daemon restarting.
 * The tests run as root, so they use mounts; every mount made here is recorded so that `undoMounts()`
 * (called from afterEach) removes it even when a test failed half-way.
 */

const mounted: string[] = []

function run(file: string, args: string[]): void {
  const result = spawnSync(file, args, {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${result.status}): ${result.stderr.trim()}`)
}

/** Mounts a tmpfs of `size` (e.g. `1m`) on `path`, creating the directory: a small disk that fills up. */
export function mountSmallDisk(path: string, size: string): void {
  mkdirSync(path, {recursive: true})
  run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', path])
  mounted.push(path)
}

/** Makes `dir` read-only for everyone, root included: a read-only bind mount of the directory onto itself. */
export function makeReadOnly(dir: string): void {
  run('mount', ['--bind', dir, dir])
  mounted.push(dir)
  run('mount', ['-o', 'remount,ro,bind', dir])
}

/** Removes one mount made here (the last one on `path`). */
export function unmount(path: string): void {
  const index = mounted.lastIndexOf(path)
  if (index === -1) throw new Error(`${path} was not mounted by the test`)
  run('umount', [path])
  mounted.splice(index, 1)
}

/** Removes every mount still in place, newest first. */
export function undoMounts(): void {
  while (mounted.length > 0) {
    const path = mounted.pop() as string
    spawnSync('umount', [path], {stdio: 'ignore'})
  }
}

function dockerdPid(): string {
  return spawnSync('pgrep', ['-xo', 'dockerd'], {encoding: 'utf8'}).stdout.trim()
}

/**
 * Restarts the Docker daemon as `systemctl restart docker` would: SIGTERM (the daemon stops every container
 * on the engine), wait for it to exit, start it again with test/infra/start-docker.sh, which also waits
 * for the local registry. Only ever call this inside the shared e2e lock.
 */
export async function restartDockerDaemon(options: {downMs?: number} = {}): Promise<void> {
  const pid = dockerdPid()
  if (!pid) throw new Error('dockerd is not running')
  run('kill', ['-TERM', pid])
  const deadline = Date.now() + 90_000
  while (spawnSync('kill', ['-0', pid]).status === 0) {
    if (Date.now() > deadline) throw new Error(`dockerd (pid ${pid}) did not stop within 90 s`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }

  if (options.downMs) await new Promise((resolve) => setTimeout(resolve, options.downMs))
  await ensureDockerAndRegistry()
}

/**
 * Starts the engine and the registry when they do not answer (idempotent). Asynchronous, so that a CLI run
 * the test started meanwhile keeps having its output read.
 */
export function ensureDockerAndRegistry(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(repoRoot, 'test', 'infra', 'start-docker.sh')], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`test/infra/start-docker.sh failed (exit ${code}): ${stderr}`))))
  })
}
