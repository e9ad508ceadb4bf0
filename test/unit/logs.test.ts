// agnes logs with a fake runner: the compose arguments for each flavour, and what reaches the caller —
// every line redacted, whatever the chunking and the bytes.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {CommandRunner} from '../../src/lib/docker/compose.js'
import {LineSplitter, LogStream, StreamRunner, instanceLogs} from '../../src/lib/logs.js'
import {clearSecrets} from '../../src/lib/secrets/redact.js'

const JWT = 'a3f9c2e8b7d64f1e9a0b5c7d2e4f6a8b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f'
const TOKEN = 'Sched-Token-0123456789-abcdefghijklmnop-XYZ'
const ADMIN_PASSWORD = 'kept-admin-password-5e1f'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-logs-'))
  mkdirSync(join(dir, '.agnes'))
  const state = {channel: 'stable', createdAt: '2026-05-01T00:00:00Z', knownGood: [], managedFiles: {}, project: 'shop-eu', rejected: [], repository: 'ghcr.io/keboola/agnes-the-ai-analyst', stateVersion: 1, tls: 'internal'}
  writeFileSync(join(dir, '.agnes', 'state.json'), JSON.stringify(state))
  writeFileSync(join(dir, '.env'), `JWT_SECRET_KEY=${JWT}\nSCHEDULER_API_TOKEN=${TOKEN}\nAGNES_HTTP_PORT=8000\n`, {mode: 0o600})
  writeFileSync(join(dir, '.agnes', 'secrets.env'), `AGNES_ADMIN_PASSWORD=${ADMIN_PASSWORD}\n`, {mode: 0o600})
  writeFileSync(join(dir, 'docker-compose.yml'), 'services: {}\n')
})

afterEach(() => {
  clearSecrets()
  rmSync(dir, {force: true, recursive: true})
})

/** A runner that answers Compose's version probe for one flavour and `config --services`. */
function fakeRun(flavour: 'v1' | 'v2', calls: string[][]): CommandRunner {
  return async (file, args) => {
    calls.push([file, ...args])
    if (flavour === 'v2' && file === 'docker' && args.join(' ') === 'compose version --short') return {exitCode: 0, stderr: '', stdout: '2.26.1\n'}
    if (flavour === 'v1' && file === 'docker-compose' && args.join(' ') === 'version --short') return {exitCode: 0, stderr: '', stdout: '1.29.2\n'}
    if (args.includes('config') && args.includes('--services')) return {exitCode: 0, stderr: '', stdout: 'app\nscheduler\ncaddy\n'}
    return {exitCode: 1, stderr: 'not found', stdout: ''}
  }
}

function fakeStream(chunks: Array<[LogStream, Uint8Array]>, calls: string[][], exitCode = 0): StreamRunner {
  return async (file, args, options) => {
    calls.push([file, ...args])
    for (const [stream, chunk] of chunks) (stream === 'stdout' ? options.onStdout : options.onStderr)(chunk)
    return {exitCode}
  }
}

const bytes = (text: string) => new TextEncoder().encode(text)

describe('agnes logs', () => {
  it('runs Compose v2 with the project, the files, the TLS profile and the options, service after --', async () => {
    const calls: string[][] = []
    const streamed: string[][] = []
    const result = await instanceLogs({dir, follow: true, onLine: () => {}, run: fakeRun('v2', calls), service: 'app', since: '10m', stream: fakeStream([], streamed), tail: 50, timestamps: true})
    expect(streamed).toEqual([
      ['docker', 'compose', '-p', 'shop-eu', '-f', join(dir, 'docker-compose.yml'), '--profile', 'tls', 'logs', '--no-color', '--since', '10m', '--tail', '50', '--follow', '--timestamps', '--', 'app'],
    ])
    expect(result).toMatchObject({compose: 'docker compose 2.26.1', project: 'shop-eu', service: 'app'})
  })

  it('runs Compose v1 as docker-compose, and refuses --since there (exit 3) before running anything', async () => {
    const streamed: string[][] = []
    await instanceLogs({dir, onLine: () => {}, run: fakeRun('v1', []), stream: fakeStream([], streamed), tail: 5})
    expect(streamed).toEqual([['docker-compose', '-p', 'shop-eu', '-f', join(dir, 'docker-compose.yml'), '--profile', 'tls', 'logs', '--no-color', '--tail', '5']])

    const refused: string[][] = []
    await expect(instanceLogs({dir, onLine: () => {}, run: fakeRun('v1', []), since: '10m', stream: fakeStream([], refused)})).rejects.toMatchObject({exitCode: 3, message: expect.stringContaining('--since')})
    expect(refused).toEqual([])
  })

  it.each([['-f'], ['--follow'], ['10 minutes'], ['$(id)']])('refuses --since %s (exit 3)', async (since) => {
    const streamed: string[][] = []
    await expect(instanceLogs({dir, onLine: () => {}, run: fakeRun('v2', []), since, stream: fakeStream([], streamed)})).rejects.toMatchObject({exitCode: 3})
    expect(streamed).toEqual([])
  })

  it('an unknown service is not found (exit 6) and names the services', async () => {
    const streamed: string[][] = []
    await expect(instanceLogs({dir, onLine: () => {}, run: fakeRun('v2', []), service: 'web', stream: fakeStream([], streamed)})).rejects.toMatchObject({exitCode: 6, hint: 'Services: app, scheduler, caddy.'})
    expect(streamed).toEqual([])
  })

  it('redacts the instance secrets in every line, even when a secret or a character is split across chunks', async () => {
    const line1 = bytes(`app-1  | INFO token=${TOKEN} ok\n`)
    const line2 = bytes(`app-1  | jwt ${JWT} café ✓\r\n`)
    const chunks: Array<[LogStream, Uint8Array]> = [
      ['stdout', line1.slice(0, 25)],
      ['stdout', line1.slice(25)],
      // Split inside the secret and inside the two-byte é.
      ['stdout', line2.slice(0, 20)],
      ['stdout', line2.slice(20, line2.indexOf(0xc3) + 1)],
      ['stdout', line2.slice(line2.indexOf(0xc3) + 1)],
      ['stdout', Uint8Array.from([...bytes('app-1  | bad bytes '), 0xff, 0xfe, ...bytes(' end\n')])],
      ['stderr', bytes(`app-1  | ERROR login failed for password ${ADMIN_PASSWORD}\n`)],
      ['stdout', bytes('app-1  | Authorization: Bearer abcdefgh12345678 (no newline at the end)')],
    ]
    const lines: Array<[string, LogStream]> = []
    const result = await instanceLogs({dir, onLine: (line, stream) => lines.push([line, stream]), run: fakeRun('v2', []), stream: fakeStream(chunks, [])})
    expect(lines).toEqual([
      ['app-1  | INFO token=*** ok', 'stdout'],
      ['app-1  | jwt *** café ✓', 'stdout'],
      ['app-1  | bad bytes \uFFFD\uFFFD end', 'stdout'],
      ['app-1  | ERROR login failed for password ***', 'stderr'],
      ['app-1  | Authorization: Bearer *** (no newline at the end)', 'stdout'],
    ])
    expect(result.lines).toBe(5)
  })

  it('a failing compose is a Docker error (exit 9) whose message is redacted', async () => {
    const chunks: Array<[LogStream, Uint8Array]> = [['stderr', bytes(`Error response from daemon: bad ${JWT}\n`)]]
    const failure = instanceLogs({dir, onLine: () => {}, run: fakeRun('v2', []), stream: fakeStream(chunks, [], 1)})
    await expect(failure).rejects.toMatchObject({exitCode: 9})
    await expect(failure).rejects.not.toMatchObject({message: expect.stringContaining(JWT)})
  })

  it('an abort (Ctrl-C) stops the stream and is an interruption (exit 130), after the lines already read', async () => {
    const controller = new AbortController()
    const lines: string[] = []
    const stream: StreamRunner = async (_file, _args, options) => {
      options.onStdout(bytes('first\nsecond without newline'))
      controller.abort()
      return {exitCode: 130}
    }

    await expect(instanceLogs({dir, follow: true, onLine: (line) => lines.push(line), run: fakeRun('v2', []), signal: controller.signal, stream})).rejects.toMatchObject({exitCode: 130})
    expect(lines).toEqual(['first', 'second without newline'])
  })
})

describe('LineSplitter', () => {
  it('keeps a multi-byte character split over three chunks whole', () => {
    const lines: string[] = []
    const splitter = new LineSplitter((line) => lines.push(line))
    const snowman = bytes('☃\n')
    for (const byte of snowman) splitter.push(Uint8Array.of(byte))
    splitter.end()
    expect(lines).toEqual(['☃'])
  })
})
