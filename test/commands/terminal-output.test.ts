// The built CLI (bin/run.js) in a pseudo-terminal and without one, against the Agnes stand-in running as a
// local process: a multi-step command draws a listr2 task list with chalk's colours on a terminal, and writes
// timestamped plain lines without ANSI codes when nobody watches (cron, CI, a pipe).
import {ChildProcess, spawn as spawnProcess} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {spawn} from 'node-pty'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {freePort, readEnvFile} from '../e2e/fixtures.js'
import {binPath, repoRoot, runAgnes} from '../helpers/run-cli.js'

const ADMIN_PASSWORD = 'terminal-admin-password-4c1d'
const cleanups: Array<() => Promise<unknown>> = []
let dir: string

/** The environment of a person at a terminal: no CI, no colour switches, none of the tester's AGNES_* settings. */
function personEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('AGNES_') && !['CI', 'FORCE_COLOR', 'NO_COLOR'].includes(key)) env[key] = value
  }

  return {...env, AGNES_ADMIN_PASSWORD: ADMIN_PASSWORD, TERM: 'xterm-256color', ...extra}
}

/** Runs the CLI in a 120x40 pseudo-terminal (stdin, stdout and stderr all on it) and returns what the screen got. */
function inTerminal(args: string[], env: Record<string, string>): Promise<{exitCode: number; screen: string}> {
  const pty = spawn(process.execPath, [binPath, ...args], {cols: 120, cwd: repoRoot, env, name: 'xterm-256color', rows: 40})
  let screen = ''
  pty.onData((data) => (screen += data))
  return new Promise((resolve) => pty.onExit(({exitCode}) => resolve({exitCode, screen})))
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001B\[[\d;?]*[A-Za-z]/g

/** The task list's last frame (each redraw starts at column 1) and what follows it, without escape codes. */
function finalScreen(screen: string): string {
  return screen.slice(screen.lastIndexOf('\u001B[G') + 3).replaceAll(ANSI, '').replaceAll('\r', '')
}

beforeAll(async () => {
  if (!existsSync(join(repoRoot, 'dist', 'commands', 'configure.js'))) throw new Error('build the CLI first: npm run build')
  dir = await mkdtemp(join(tmpdir(), 'agnes-terminal-'))
  cleanups.push(() => rm(dir, {force: true, recursive: true}))
  const port = await freePort()
  const init = await runAgnes(['init', '--non-interactive', '--json', '--dir', dir, '--admin-email', 'admin@example.com', '--http-port', String(port), '--data-source', 'local'], {
    env: {CI: '1'},
  })
  expect(init.exitCode, init.stderr).toBe(0)
  const secrets = readEnvFile(join(dir, '.env'))
  const dataDir = await mkdtemp(join(tmpdir(), 'agnes-terminal-data-'))
  cleanups.push(() => rm(dataDir, {force: true, recursive: true}))
  const standin: ChildProcess = spawnProcess(process.execPath, [join(repoRoot, 'test', 'standin', 'server.mjs')], {
    env: {DATA_DIR: dataDir, JWT_SECRET_KEY: secrets.JWT_SECRET_KEY, PATH: process.env.PATH, PORT: String(port), SCHEDULER_API_TOKEN: secrets.SCHEDULER_API_TOKEN, STANDIN_SYNC_SECONDS: '1.5'},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise((resolve) => standin.on('exit', resolve))
  cleanups.push(async () => {
    standin.kill('SIGTERM')
    await exited
  })
  let output = ''
  standin.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const deadline = Date.now() + 10_000
  while (!output.includes('Listening on')) {
    if (standin.exitCode !== null || Date.now() > deadline) throw new Error(`the stand-in did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
})

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

describe('progress on a terminal and without one', () => {
  it('draws a coloured task list on a terminal: each step marked done, the sync with its time', async () => {
    const {exitCode, screen} = await inTerminal(['configure', '--dir', dir, '--sync', '--wait'], personEnv())
    expect(exitCode, screen).toBe(0)
    // listr2 draws on the terminal: a spinner while the sync runs, the job status as the running step's detail.
    expect(screen).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/)
    expect(screen.replaceAll(ANSI, '')).toMatch(/› sync (queued|running)/)
    const final = finalScreen(screen)
    expect(final).toMatch(/^✔ Creating the first admin admin@example.com\n/)
    expect(final).toMatch(/\n✔ Configuring the data source \(local\)\n/)
    expect(final).toMatch(/\n✔ Triggering a sync \[\d+s\]\n/)
    expect(final).toContain('Next: agnes smoke')
    // chalk colours the marks and the hint.
    expect(screen).toContain('\u001B[32m✔\u001B[39m')
    expect(screen).toContain('\u001B[2mNext: agnes smoke\u001B[22m')
  })

  it('draws the task list without colour under NO_COLOR', async () => {
    const {exitCode, screen} = await inTerminal(['configure', '--dir', dir], personEnv({NO_COLOR: '1'}))
    expect(exitCode, screen).toBe(0)
    expect(finalScreen(screen)).toMatch(/^✔ Creating the first admin admin@example.com\n✔ Configuring the data source \(local\)\n/)
    expect(screen).not.toMatch(/\u001B\[(3\d|2|1)m/)
  })

  it('writes timestamped plain lines on stderr without a terminal, and no ANSI code anywhere', async () => {
    const result = await runAgnes(['configure', '--dir', dir, '--sync', '--wait'], {env: {CI: undefined, FORCE_COLOR: undefined, NO_COLOR: undefined, ...personEnv()}})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stderr).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ Creating the first admin admin@example.com…$/m)
    expect(result.stderr).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {3}sync done \(\d+ s\)$/m)
    expect(result.stderr + result.stdout).not.toContain('\u001B[')
    expect(result.stdout).not.toMatch(/Creating the first admin|sync done/)
    expect(result.stdout).toContain('Next: agnes smoke')
  })
})
