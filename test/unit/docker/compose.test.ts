import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {type CommandResult, type CommandRunner, Compose, type ComposeCommand, composePreference, detectCompose, projectArgs} from '../../../src/lib/docker/compose.js'
import {DockerError} from '../../../src/lib/errors.js'
import {type InstancePaths, instancePaths} from '../../../src/lib/instance/paths.js'
import {clearSecrets, registerSecret} from '../../../src/lib/secrets/redact.js'

interface Call {
  file: string
  args: string[]
  cwd?: string
  timeoutMs?: number
}

/** A CommandRunner that records every call and answers from a function of the argv. */
function fakeRunner(answer: (file: string, args: string[]) => Partial<CommandResult> | 'ENOENT'): {run: CommandRunner; calls: Call[]} {
  const calls: Call[] = []
  const run: CommandRunner = async (file, args, options) => {
    calls.push({args, cwd: options.cwd, file, timeoutMs: options.timeoutMs})
    const result = answer(file, args)
    // execaRunner maps a missing binary to exit 127 with the spawn error as stderr.
    if (result === 'ENOENT') return {exitCode: 127, stderr: `spawn ${file} ENOENT`, stdout: ''}
    return {exitCode: 0, stderr: '', stdout: '', ...result}
  }

  return {calls, run}
}

const V2: ComposeCommand = {argv: ['docker', 'compose'], flavour: 'v2', version: '2.29.7'}
const V1: ComposeCommand = {argv: ['docker-compose'], flavour: 'v1', version: '1.29.2'}

let dir: string
let paths: InstancePaths

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-compose-test-'))
  paths = instancePaths(dir)
  writeFileSync(paths.compose, 'services: {}\n')
})

afterEach(() => {
  clearSecrets()
  rmSync(dir, {force: true, recursive: true})
})

describe('detectCompose', () => {
  it('picks the v2 plugin when `docker compose version --short` prints 2.x', async () => {
    const {calls, run} = fakeRunner((file) => (file === 'docker' ? {stdout: '2.29.7\n'} : 'ENOENT'))
    expect(await detectCompose(run, 'auto')).toEqual({argv: ['docker', 'compose'], flavour: 'v2', version: '2.29.7'})
    expect(calls).toHaveLength(1)
    expect(calls[0]).toMatchObject({args: ['compose', 'version', '--short'], file: 'docker'})
  })

  it('accepts a v-prefixed version', async () => {
    const {run} = fakeRunner((file) => (file === 'docker' ? {stdout: 'v2.40.3'} : 'ENOENT'))
    expect(await detectCompose(run, 'auto')).toMatchObject({argv: ['docker', 'compose'], flavour: 'v2', version: 'v2.40.3'})
  })

  it('picks the plugin for Compose v5, the current release line after 2.x', async () => {
    const {run} = fakeRunner((file) => (file === 'docker' ? {stdout: '5.0.2\n'} : 'ENOENT'))
    expect(await detectCompose(run, 'auto')).toEqual({argv: ['docker', 'compose'], flavour: 'v2', version: '5.0.2'})
  })

  it('falls back to docker-compose (v1) when the plugin is missing', async () => {
    const {calls, run} = fakeRunner((file) =>
      file === 'docker' ? {exitCode: 1, stderr: "docker: 'compose' is not a docker command."} : {stdout: '1.29.2\n'},
    )
    expect(await detectCompose(run, 'auto')).toEqual({argv: ['docker-compose'], flavour: 'v1', version: '1.29.2'})
    expect(calls.map((call) => [call.file, ...call.args])).toEqual([
      ['docker', 'compose', 'version', '--short'],
      ['docker-compose', 'version', '--short'],
    ])
  })

  it('falls back to docker-compose when the docker CLI itself is missing', async () => {
    const {run} = fakeRunner((file) => (file === 'docker' ? 'ENOENT' : {stdout: '1.29.2'}))
    expect(await detectCompose(run, 'auto')).toMatchObject({argv: ['docker-compose'], flavour: 'v1'})
  })

  it('does not take a docker that answers exit 0 without a 2.x version for the plugin', async () => {
    const {run} = fakeRunner((file) => (file === 'docker' ? {stdout: 'Usage:  docker [OPTIONS] COMMAND'} : {stdout: '1.29.2'}))
    expect(await detectCompose(run, 'auto')).toMatchObject({argv: ['docker-compose'], flavour: 'v1'})
  })

  it('treats a standalone docker-compose binary of version 2 as v2 syntax', async () => {
    const {run} = fakeRunner((file) => (file === 'docker' ? {exitCode: 1} : {stdout: '2.20.2'}))
    expect(await detectCompose(run, 'auto')).toEqual({argv: ['docker-compose'], flavour: 'v2', version: '2.20.2'})
  })

  it('throws DockerError (exit 9) with an install hint when neither exists', async () => {
    const {run} = fakeRunner(() => 'ENOENT')
    const error = await detectCompose(run, 'auto').catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(DockerError)
    expect((error as DockerError).exitCode).toBe(9)
    expect((error as DockerError).message).toMatch(/docker compose.*docker-compose/)
    expect((error as DockerError).hint).toMatch(/docker-compose-plugin/)
  })

  it('throws when docker-compose exists but prints nothing', async () => {
    const {run} = fakeRunner((file) => (file === 'docker' ? 'ENOENT' : {stdout: '  \n'}))
    await expect(detectCompose(run, 'auto')).rejects.toBeInstanceOf(DockerError)
  })
})

describe('AGNES_COMPOSE', () => {
  const both = () => fakeRunner((file) => (file === 'docker' ? {stdout: '2.26.1\n'} : {stdout: '1.29.2\n'}))

  it('v1 takes docker-compose 1.x even when the v2 plugin is installed', async () => {
    const {calls, run} = both()
    expect(await detectCompose(run, composePreference('v1'))).toEqual({argv: ['docker-compose'], flavour: 'v1', version: '1.29.2'})
    expect(calls.map((call) => call.file)).toEqual(['docker-compose'])
  })

  it('v2 takes the plugin', async () => {
    const {run} = both()
    expect(await detectCompose(run, composePreference('V2'))).toEqual({argv: ['docker', 'compose'], flavour: 'v2', version: '2.26.1'})
  })

  it('a forced flavour that is missing is a Docker error naming AGNES_COMPOSE', async () => {
    const {run} = fakeRunner((file) => (file === 'docker' ? {exitCode: 1} : {stdout: '1.29.2'}))
    const error = await detectCompose(run, 'v2').catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(DockerError)
    expect((error as DockerError).message).toMatch(/AGNES_COMPOSE=v2/)
    const noV1 = fakeRunner((file) => (file === 'docker' ? {stdout: '2.26.1'} : {stdout: '2.20.2'}))
    await expect(detectCompose(noV1.run, 'v1')).rejects.toThrow(/AGNES_COMPOSE=v1/)
  })

  it('unset or auto means v2 first; anything else is invalid input (exit 3)', () => {
    expect(composePreference(undefined)).toBe('auto')
    expect(composePreference(' auto ')).toBe('auto')
    expect(() => composePreference('v3')).toThrow(expect.objectContaining({exitCode: 3, message: expect.stringMatching(/AGNES_COMPOSE must be v1, v2 or auto/)}))
  })
})

describe('projectArgs', () => {
  it('passes -p and -f with absolute paths, the override only when it exists, then profiles', () => {
    expect(projectArgs({paths, profiles: [], project: 'agnes'})).toEqual(['-p', 'agnes', '-f', paths.compose])
    writeFileSync(paths.override, 'services: {}\n')
    expect(projectArgs({paths, profiles: ['tls'], project: 'agnes'})).toEqual(['-p', 'agnes', '-f', paths.compose, '-f', paths.override, '--profile', 'tls'])
  })

  it.each(['--foo', '-p', '', 'Agnes', 'agnes prod', 'a/b', '_x', 'x;rm -rf /'])('refuses the unsafe project name %j', (project) => {
    expect(() => projectArgs({paths, profiles: [], project})).toThrow(/unsafe compose project name/)
  })
})

describe('Compose.exec', () => {
  it('builds the v2 command line and runs it in the instance directory', async () => {
    const {calls, run} = fakeRunner(() => ({stdout: 'ok'}))
    const compose = new Compose(V2, {paths, profiles: [], project: 'agnes-prod'}, run)
    const result = await compose.exec(['ps', '--format', 'json'])
    expect(result.stdout).toBe('ok')
    expect(calls).toEqual([
      {args: ['compose', '-p', 'agnes-prod', '-f', paths.compose, 'ps', '--format', 'json'], cwd: paths.dir, file: 'docker', timeoutMs: 15 * 60_000},
    ])
  })

  it('adds the override file when it exists and the tls profile when active (v2)', async () => {
    writeFileSync(paths.override, 'services: {}\n')
    const {calls, run} = fakeRunner(() => ({}))
    await new Compose(V2, {paths, profiles: ['tls'], project: 'agnes'}, run).exec(['up', '-d'], {timeoutMs: 1234})
    expect(calls[0]).toEqual({
      args: ['compose', '-p', 'agnes', '-f', paths.compose, '-f', paths.override, '--profile', 'tls', 'up', '-d'],
      cwd: paths.dir,
      file: 'docker',
      timeoutMs: 1234,
    })
  })

  it('builds the same command line with the docker-compose binary for v1', async () => {
    writeFileSync(paths.override, 'services: {}\n')
    const {calls, run} = fakeRunner(() => ({}))
    await new Compose(V1, {paths, profiles: ['tls'], project: 'agnes'}, run).exec(['pull', 'app'])
    expect(calls[0].file).toBe('docker-compose')
    expect(calls[0].args).toEqual(['-p', 'agnes', '-f', paths.compose, '-f', paths.override, '--profile', 'tls', 'pull', 'app'])
    expect(calls[0].cwd).toBe(paths.dir)
  })

  it('up and stop pass their arguments through', async () => {
    const {calls, run} = fakeRunner(() => ({}))
    const compose = new Compose(V2, {paths, profiles: [], project: 'agnes'}, run)
    await compose.up(['app'], {noDeps: true})
    await compose.up([])
    await compose.stop(['app', 'scheduler'])
    const tails = calls.map((call) => call.args.slice(5))
    expect(tails).toEqual([['up', '-d', '--remove-orphans', '--no-deps', 'app'], ['up', '-d', '--remove-orphans'], ['stop', 'app', 'scheduler']])
  })

  it('never runs anything for an unsafe project name', async () => {
    const {calls, run} = fakeRunner(() => ({}))
    await expect(new Compose(V2, {paths, profiles: [], project: '--foo'}, run).exec(['down'])).rejects.toThrow(/unsafe/)
    expect(calls).toHaveLength(0)
  })

  it('turns a non-zero exit into DockerError (exit 9) quoting the redacted tail of stderr', async () => {
    const secret = 'kbc-storage-token-0123456789'
    registerSecret(secret)
    const stderr = [...Array.from({length: 10}, (_unused, i) => `early line ${i}`), `Error: env KEBOOLA_STORAGE_TOKEN=${secret} rejected`].join('\n')
    const {run} = fakeRunner(() => ({exitCode: 17, stderr, stdout: 'stdout is ignored when stderr has text'}))
    const error = await new Compose(V2, {paths, profiles: [], project: 'agnes'}, run).exec(['up', '-d']).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(DockerError)
    const dockerError = error as DockerError
    expect(dockerError.exitCode).toBe(9)
    expect(dockerError.message).toContain('`docker compose up -d` failed (exit 17)')
    expect(dockerError.message).toContain('KEBOOLA_STORAGE_TOKEN=***')
    expect(dockerError.message).not.toContain(secret)
    // Only the tail: the last six lines.
    expect(dockerError.message).toContain('early line 9')
    expect(dockerError.message).toContain('early line 5')
    expect(dockerError.message).not.toContain('early line 4')
    expect(dockerError.message).not.toContain('stdout is ignored')
    expect(dockerError.hint).toMatch(/compose config/)
  })

  it('quotes stdout when stderr is empty', async () => {
    const {run} = fakeRunner(() => ({exitCode: 1, stderr: '', stdout: 'service "app" refers to undefined volume'}))
    await expect(new Compose(V1, {paths, profiles: [], project: 'agnes'}, run).exec(['config'])).rejects.toThrow(/`docker-compose config` failed \(exit 1\): service "app" refers to undefined volume/)
  })

  it('gives the AGNES_NOFILE hint when the engine cannot set the open-file limit', async () => {
    const stderr =
      'Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: setting rlimit type 7: operation not permitted: unknown'
    const {run} = fakeRunner(() => ({exitCode: 1, stderr}))
    const error = (await new Compose(V2, {paths, profiles: [], project: 'agnes'}, run).exec(['up', '-d']).catch((error_: unknown) => error_)) as DockerError
    expect(error).toBeInstanceOf(DockerError)
    expect(error.hint).toContain('AGNES_NOFILE')
  })
})

describe('Compose.activeServices', () => {
  const CONFIG = [
    'name: agnes',
    'services:',
    '  app:',
    '    image: ghcr.io/keboola/agnes-the-ai-analyst:stable',
    '  scheduler:',
    '    image: ghcr.io/keboola/agnes-the-ai-analyst:stable',
    '    profiles: []',
    '  caddy:',
    '    image: caddy:2-alpine',
    '    profiles:',
    '      - tls',
    '  my-connector:',
    '    image: registry.example.com/my-connector:1.0',
    '    profiles: ["extract"]',
    '',
  ].join('\n')

  it('excludes services of inactive profiles (caddy without tls)', async () => {
    const {calls, run} = fakeRunner(() => ({stdout: CONFIG}))
    const services = await new Compose(V1, {paths, profiles: [], project: 'agnes'}, run).activeServices()
    expect(services).toEqual(['app', 'scheduler'])
    expect(calls[0].args.at(-1)).toBe('config')
  })

  it('includes caddy when the tls profile is active, still not the extract connector', async () => {
    const {run} = fakeRunner(() => ({stdout: CONFIG}))
    expect(await new Compose(V2, {paths, profiles: ['tls'], project: 'agnes'}, run).activeServices()).toEqual(['app', 'scheduler', 'caddy'])
  })

  it('returns nothing for a config without services, and fails like exec on a compose error', async () => {
    const empty = fakeRunner(() => ({stdout: 'name: agnes\n'}))
    expect(await new Compose(V2, {paths, profiles: [], project: 'agnes'}, empty.run).activeServices()).toEqual([])
    const broken = fakeRunner(() => ({exitCode: 15, stderr: 'yaml: line 3: mapping values are not allowed'}))
    await expect(new Compose(V2, {paths, profiles: [], project: 'agnes'}, broken.run).activeServices()).rejects.toBeInstanceOf(DockerError)
  })
})
