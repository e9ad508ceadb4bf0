import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {type IncomingMessage, type Server, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {engineEndpoint} from '../../../src/lib/docker/endpoint.js'
import {DockerEngine} from '../../../src/lib/docker/engine.js'
import {engineGet, runningAppDigest} from '../../../src/lib/docker/socket.js'
import {ExitCode} from '../../../src/lib/errors.js'

/** A stand-in Docker engine API on a TCP port: answers what agnes asks and records every request. */
interface FakeEngine {
  server: Server
  port: number
  requests: Array<{method: string; url: string; headers: IncomingMessage['headers']}>
}

const APP_IMAGE = 'sha256:' + 'a'.repeat(64)
const DIGEST = 'sha256:' + 'b'.repeat(64)
/** The directory the fake's app container says Compose ran in (a path that does not exist here, by default). */
let appWorkingDir = '/srv/agnes'

async function startFakeEngine(): Promise<FakeEngine> {
  const requests: FakeEngine['requests'] = []
  const server = createServer((request, response) => {
    requests.push({headers: request.headers, method: request.method ?? '', url: request.url ?? ''})
    const path = decodeURIComponent((request.url ?? '').replace(/^\/v[\d.]+/, '').split('?')[0])
    const json = (body: unknown) => {
      response.writeHead(200, {'content-type': 'application/json'})
      response.end(JSON.stringify(body))
    }

    if (path === '/_ping') {
      response.end('OK')
    } else if (path === '/containers/json') {
      json([{Id: 'c1', Image: 'img', ImageID: APP_IMAGE, Labels: {'com.docker.compose.project': 'agnes', 'com.docker.compose.project.working_dir': appWorkingDir, 'com.docker.compose.service': 'app'}, Names: ['/agnes_app_1'], State: 'running', Status: 'Up'}])
    } else if (path === `/images/${APP_IMAGE}/json`) {
      json({Id: APP_IMAGE, RepoDigests: [`registry.example:5000/team/agnes@${DIGEST}`]})
    } else if (path === '/volumes') {
      json({Volumes: [{Labels: {'com.docker.compose.project': 'agnes'}, Name: 'agnes_data'}], Warnings: null})
    } else if (path === '/images/create') {
      response.writeHead(200, {'content-type': 'application/json'})
      response.end('{"status":"Pulling from team/agnes","id":"x"}\n{"status":"Download complete","id":"l1"}\n')
    } else {
      response.writeHead(404)
      response.end('{"message":"not here"}')
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {port: (server.address() as AddressInfo).port, requests, server}
}

let fake: FakeEngine
let temp: string
const reporter = {progress: () => undefined, warn: () => undefined}

beforeEach(async () => {
  appWorkingDir = '/srv/agnes'
  fake = await startFakeEngine()
  temp = mkdtempSync(join(tmpdir(), 'agnes-endpoint-'))
})

afterEach(async () => {
  vi.unstubAllEnvs()
  await new Promise((resolve) => fake.server.close(resolve))
  rmSync(temp, {force: true, recursive: true})
})

describe('DOCKER_HOST=tcp://host:port', () => {
  it('the cron path (engineGet, runningAppDigest) reaches the engine over TCP', async () => {
    vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${fake.port}`)
    expect(await runningAppDigest('agnes', 'registry.example:5000/team/agnes', temp)).toEqual({digest: DIGEST, running: true})
    expect(fake.requests.map((request) => decodeURIComponent(request.url.split('?')[0]))).toEqual(['/containers/json', `/images/${APP_IMAGE}/json`])
  })

  it('the cron no-op path refuses a running app that another existing directory runs (exit 7), with no extra request', async () => {
    vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${fake.port}`)
    const other = join(temp, 'other')
    const mine = join(temp, 'mine')
    mkdirSync(other)
    mkdirSync(mine)
    appWorkingDir = other
    await expect(runningAppDigest('agnes', 'registry.example:5000/team/agnes', mine)).rejects.toMatchObject({exitCode: ExitCode.CONFLICT, message: expect.stringContaining(other)})
    expect(fake.requests.map((request) => request.url.split('?')[0])).toEqual(['/containers/json'])
    appWorkingDir = mine
    expect(await runningAppDigest('agnes', 'registry.example:5000/team/agnes', mine)).toEqual({digest: DIGEST, running: true})
  })

  it('the full client connects and lists the Compose projects over TCP', async () => {
    vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${fake.port}`)
    const engine = await DockerEngine.connect()
    expect(await engine.composeResources()).toEqual([
      {kind: 'container', name: 'agnes_app_1', project: 'agnes', workingDir: '/srv/agnes'},
      {kind: 'volume', name: 'agnes_data', project: 'agnes'},
    ])
  })

  it('an engine that is not there is exit 9 naming DOCKER_HOST', async () => {
    const port = fake.port
    await new Promise((resolve) => fake.server.close(resolve))
    fake = await startFakeEngine()
    vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${port === fake.port ? port + 1 : port}`)
    await expect(engineGet('/_ping')).rejects.toMatchObject({exitCode: ExitCode.DOCKER, message: expect.stringContaining('tcp://127.0.0.1:')})
    await expect(DockerEngine.connect()).rejects.toMatchObject({exitCode: ExitCode.DOCKER, message: expect.stringContaining('tcp://127.0.0.1:')})
  })

  it('TLS (DOCKER_TLS_VERIFY) without the certificate files is exit 3 naming the file', () => {
    vi.stubEnv('DOCKER_HOST', 'tcp://engine.example:2376')
    vi.stubEnv('DOCKER_TLS_VERIFY', '1')
    vi.stubEnv('DOCKER_CERT_PATH', temp)
    expect(() => engineEndpoint()).toThrow(expect.objectContaining({exitCode: ExitCode.INVALID, message: expect.stringContaining(join(temp, 'ca.pem'))}))
  })
})

describe('DOCKER_HOST=ssh://user@host:port', () => {
  /** A stand-in `ssh` on PATH: records its arguments and bridges stdin/stdout to the fake engine, as `docker system dial-stdio` would. */
  function fakeSsh(): string {
    const bin = join(temp, 'bin')
    const script = join(bin, 'ssh')
    const argsFile = join(temp, 'ssh-args.json')
    rmSync(bin, {force: true, recursive: true})
    mkdirSync(bin)
    writeFileSync(
      script,
      `#!${process.execPath}
require('node:fs').appendFileSync(${JSON.stringify(argsFile)}, JSON.stringify(process.argv.slice(2)) + '\\n')
const socket = require('node:net').connect(${fake.port}, '127.0.0.1')
process.stdin.pipe(socket)
socket.pipe(process.stdout)
socket.on('close', () => process.exit(0))
`,
    )
    chmodSync(script, 0o755)
    vi.stubEnv('PATH', `${bin}:${process.env.PATH}`)
    return argsFile
  }

  it('reaches the engine through the system OpenSSH client and `docker system dial-stdio`', async () => {
    const argsFile = fakeSsh()
    vi.stubEnv('DOCKER_HOST', 'ssh://ops@engine.example:2222')
    expect(await runningAppDigest('agnes', 'registry.example:5000/team/agnes', temp)).toEqual({digest: DIGEST, running: true})
    const engine = await DockerEngine.connect()
    expect((await engine.composeResources('agnes')).map((resource) => resource.name)).toEqual(['agnes_app_1', 'agnes_data'])
    const calls = readFileSync(argsFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[])
    expect(calls.length).toBeGreaterThanOrEqual(3)
    for (const args of calls) expect(args.slice(args.indexOf('--'))).toEqual(['--', 'engine.example', 'docker', 'system', 'dial-stdio'])
    expect(calls[0]).toEqual(expect.arrayContaining(['-l', 'ops', '-p', '2222']))
  })

  it('without an ssh client, a clear exit 9 naming DOCKER_HOST instead of a crash', async () => {
    vi.stubEnv('PATH', join(temp, 'empty'))
    vi.stubEnv('DOCKER_HOST', 'ssh://engine.example')
    for (const attempt of [engineGet('/_ping'), DockerEngine.connect()]) {
      await expect(attempt).rejects.toMatchObject({exitCode: ExitCode.DOCKER, message: expect.stringMatching(/OpenSSH.*DOCKER_HOST=ssh:\/\/engine\.example/)})
    }
  })

  it('a DOCKER_HOST agnes cannot use is exit 3 naming it', () => {
    for (const value of ['ftp://engine.example', 'ssh://ops:secret@engine.example', 'tcp://engine.example:2375/path']) {
      vi.stubEnv('DOCKER_HOST', value)
      expect(() => engineEndpoint(), value).toThrow(expect.objectContaining({exitCode: ExitCode.INVALID, message: expect.stringContaining('DOCKER_HOST')}))
    }
  })
})

describe('pulling a private image', () => {
  it('passes the Docker-config login for its registry to the engine (X-Registry-Auth)', async () => {
    vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${fake.port}`)
    vi.stubEnv('DOCKER_CONFIG', temp)
    const auth = Buffer.from('robot:pull-secret-123').toString('base64')
    writeFileSync(join(temp, 'config.json'), JSON.stringify({auths: {'https://registry.example:5000': {auth}, 'other.example': {auth: Buffer.from('x:y-other').toString('base64')}}}))
    const engine = await DockerEngine.connect()
    await engine.pull(`registry.example:5000/team/agnes@${DIGEST}`, reporter)
    const pull = fake.requests.find((request) => request.url.startsWith('/images/create'))
    expect(pull).toBeDefined()
    const header = pull?.headers['x-registry-auth'] as string
    expect(JSON.parse(Buffer.from(header, 'base64url').toString('utf8'))).toEqual({password: 'pull-secret-123', serveraddress: 'registry.example:5000', username: 'robot'})
    // The credential travels in the header only, never in the URL.
    expect(pull?.url).not.toContain('pull-secret')
  })

  it('pulls anonymously when the Docker config has no login for that registry', async () => {
    vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${fake.port}`)
    vi.stubEnv('DOCKER_CONFIG', temp)
    const engine = await DockerEngine.connect()
    await engine.pull(`registry.example:5000/team/agnes@${DIGEST}`, reporter)
    expect(fake.requests.find((request) => request.url.startsWith('/images/create'))?.headers['x-registry-auth']).toBeUndefined()
  })
})
