// A fake host for the deploy path: a fake engine and Compose that run one app container from the image
// named in the managed docker-compose.yml, a fake registry, and a tiny HTTP server that answers for the app.
// Nothing here touches Docker.
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {expect} from 'vitest'

import {writeTar} from '../../../src/lib/backup/tar.js'
import type {DeployDeps} from '../../../src/lib/deploy/context.js'
import {Compose} from '../../../src/lib/docker/compose.js'
import {DockerEngine} from '../../../src/lib/docker/engine.js'
import {AgnesError, AuthError, DockerError, NotFoundError} from '../../../src/lib/errors.js'
import type {RegistryClient} from '../../../src/lib/image-registry/client.js'
import type {RegistryPublisher} from '../../../src/lib/image-registry/publish.js'
import {renderCompose, writeManagedFile} from '../../../src/lib/instance/managed-files.js'
import {InstancePaths, instancePaths} from '../../../src/lib/instance/paths.js'
import {Deployment, InstanceState, writeState} from '../../../src/lib/instance/state.js'
import {RecordingReporter} from '../../../src/lib/ui/reporter.js'

export const REPO = '127.0.0.1:5000/unit/agnes'
export const OLD = `sha256:${'a'.repeat(64)}`
export const NEW = `sha256:${'b'.repeat(64)}`
export const OLDER = `sha256:${'c'.repeat(64)}`
export const imageIdOf = (digest: string) => `sha256:${digest.slice(7, 15)}${'0'.repeat(56)}`

export interface AppContainer {
  id: string
  digest: string
  status: 'running' | 'exited'
  restartCount: number
  startedAt: number
}

/** The fake host: what runs, what the tests break, and every call made. */
export class Host {
  app: AppContainer | undefined
  schedulerRunning = true
  images = new Set<string>()
  /** ms after start until a digest's app is healthy (missing: at once; Infinity: never). */
  bootMs = new Map<string, number>()
  calls: string[] = []
  engineDown = false
  /** Every engine call fails, as while the Docker daemon restarts. */
  engineGone = false
  /** The app container's restart policy and the code it exited with (a stopped or crashed container). */
  restartPolicy = 'no'
  exitCode = 0
  composeBroken = false
  /** What the failing compose prints (Compose v2 names no file for a YAML error). */
  composeSays = 'docker-compose.override.yml: yaml: line 2: did not find expected key'
  failBackup = false
  /** A digest whose app container cannot be started (compose up fails). */
  failUpDigest: string | undefined
  otherContainers: Array<{Id: string; ImageID: string; Labels: Record<string, string>}> = []
  removed: string[] = []
  /** The open-file limit the fake engine can grant a container. */
  openFileLimit = 1_048_576
  private nextId = 1

  constructor(readonly paths: InstancePaths) {}

  healthy(): boolean {
    if (!this.app || this.app.status !== 'running') return false
    return Date.now() - this.app.startedAt >= (this.bootMs.get(this.app.digest) ?? 0)
  }

  composeDigest(): string {
    return /image: \S+@(sha256:[0-9a-f]{64})/.exec(readFileSync(this.paths.compose, 'utf8'))![1]
  }

  engine(): DockerEngine {
    const host = this
    const api = {
      getContainer: (id: string) => ({
        getArchive: async () => {
          if (host.failBackup) throw new Error('no space left on device')
          return Readable.from(writeTar([{name: 'state', type: 'directory'}, {content: `db of ${id}`, name: 'state/system.duckdb', type: 'file'}]))
        },
        inspect: async () => ({HostConfig: {RestartPolicy: {MaximumRetryCount: 0, Name: host.restartPolicy}}, State: {OOMKilled: false, Restarting: false, Running: host.app?.id === id && host.app.status === 'running'}}),
      }),
      getImage: (reference: string) => ({
        inspect: async () => {
          const digest = [...host.images].find((candidate) => reference === imageIdOf(candidate) || reference.endsWith(candidate))
          if (!digest) throw Object.assign(new Error('no such image'), {statusCode: 404})
          return {Id: imageIdOf(digest), RepoDigests: [`${REPO}@${digest}`]}
        },
      }),
      listImages: async () => [...host.images].map((digest) => ({Id: imageIdOf(digest), RepoDigests: [`${REPO}@${digest}`]})),
      listContainers: async () => [
        ...(host.app ? [{Id: host.app.id, ImageID: imageIdOf(host.app.digest), Labels: {'com.docker.compose.project.working_dir': host.paths.dir}}] : []),
        ...host.otherContainers,
      ],
      ping: async () => {
        if (host.engineDown || host.engineGone) throw new Error('connect ENOENT /var/run/docker.sock')
      },
    }
    const engine = {
      api,
      async composeResources() {
        return host.app ? [{kind: 'container', name: 'app', project: 'unit', workingDir: host.paths.dir}] : []
      },
      async containerState(id: string) {
        if (host.engineGone) throw Object.assign(new Error('connect ENOENT /var/run/docker.sock'), {code: 'ENOENT'})
        if (host.app?.id !== id) return undefined
        const exitCode = host.app.status === 'running' ? 0 : host.exitCode
        return {exitCode, imageId: imageIdOf(host.app.digest), restartCount: host.app.restartCount, restarting: false, running: host.app.status === 'running', startedAt: String(host.app.startedAt), status: host.app.status}
      },
      async imageId(reference: string) {
        const digest = [...host.images].find((candidate) => reference.endsWith(candidate))
        return digest ? imageIdOf(digest) : undefined
      },
      async info() {
        return {dockerRootDir: '/nonexistent', memTotal: 0, serverVersion: 'fake'}
      },
      async logTail() {
        return ''
      },
      async projectContainers(_project: string, service?: string) {
        if (host.engineGone) throw Object.assign(new Error('connect ENOENT /var/run/docker.sock'), {code: 'ENOENT'})
        if (!host.app || (service && service !== 'app')) return []
        return [{id: host.app.id, image: `${REPO}@${host.app.digest}`, imageId: imageIdOf(host.app.digest), name: 'app', service: 'app', state: host.app.status, status: host.app.status}]
      },
      async pull(reference: string) {
        host.calls.push(`pull ${reference}`)
        host.images.add(reference.split('@')[1])
      },
      async removeImage(reference: string) {
        const digest = [...host.images].find((candidate) => reference === imageIdOf(candidate) || reference.endsWith(`@${candidate}`))
        if (!digest) return false
        host.removed.push(digest)
        host.images.delete(digest)
        return true
      },
    }
    return engine as unknown as DockerEngine
  }

  compose(): Compose {
    const host = this
    const fail = (args: string[]) => {
      if (host.composeBroken) throw new DockerError(`\`docker compose ${args.join(' ')}\` failed (exit 15): ${host.composeSays}`)
    }

    return {
      async activeServices() {
        fail(['config'])
        return ['app', 'scheduler']
      },
      command: {argv: ['docker', 'compose'], flavour: 'v2', version: '2.29.0'},
      async exec(args: string[]) {
        host.calls.push(args.join(' '))
        fail(args)
        return {exitCode: 0, stderr: '', stdout: ''}
      },
      async stop(services: string[]) {
        host.calls.push(`stop ${services.join(' ')}`)
        fail(['stop'])
        if (services.includes('app') && host.app) host.app.status = 'exited'
        if (services.includes('scheduler')) host.schedulerRunning = false
      },
      async up(services: string[]) {
        host.calls.push(`up ${services.join(' ')}`)
        fail(['up'])
        if (services.includes('scheduler')) host.schedulerRunning = true
        if (!services.includes('app')) return
        const digest = host.composeDigest()
        if (digest === host.failUpDigest) throw new DockerError(`\`docker compose up\` failed (exit 1): cannot start ${digest}`)
        if (host.app?.digest === digest && host.app.status === 'running') return
        if (host.app?.digest === digest) {
          Object.assign(host.app, {startedAt: Date.now(), status: 'running'})
          return
        }

        host.app = {digest, id: `container-${host.nextId++}`, restartCount: 0, startedAt: Date.now(), status: 'running'}
      },
    } as unknown as Compose
  }

  /** The outside world of a deploy, as `upgrade`, `pin`, `rollback` and `up` reach it (src/lib/deploy/context.ts). */
  deps(registry: FakeRegistry, extra: Partial<DeployDeps> = {}): DeployDeps {
    return {
      connectEngine: async () => {
        this.calls.push('connect engine')
        return this.engine()
      },
      engineOpenFileLimit: () => ({limit: this.openFileLimit}),
      openCompose: async () => this.compose(),
      openPublisher: () => registry.publisher(),
      openRegistry: () => registry.client(),
      runningApp: async () => {
        this.calls.push('running app')
        return this.app?.status === 'running' ? {digest: this.app.digest, running: true} : {running: false}
      },
      ...extra,
    }
  }
}

/** A registry that knows some tags; counts its requests like the real client. */
export class FakeRegistry {
  requests = 0
  closed = false
  constructor(readonly tags: Record<string, string> = {}) {}

  async resolveDigest(_repository: unknown, reference: string) {
    this.requests++
    const digest = reference.startsWith('sha256:') ? reference : this.tags[reference]
    if (!digest) throw new NotFoundError(`the registry has no tag ${reference}`)
    return {digest, mediaType: 'application/vnd.oci.image.index.v1+json'}
  }

  async listTags() {
    this.requests++
    return Object.keys(this.tags)
  }

  async tagExists(_repository: unknown, reference: string) {
    this.requests++
    return reference in this.tags
  }

  async close() {
    this.closed = true
  }

  client(): RegistryClient {
    return this as unknown as RegistryClient
  }

  /** Tag writes, as `release retract` and `upgrade --retract-on-failure` make them; `denyPush` answers like a 403. */
  denyPush = false
  puts: string[] = []
  publisher(): RegistryPublisher {
    return {
      getManifest: async (digest: string) => ({body: Buffer.from(digest), digest, mediaType: 'application/vnd.oci.image.index.v1+json'}),
      putManifest: async (tag: string, manifest: {digest: string}) => {
        if (this.denyPush) throw new AuthError('Registry 127.0.0.1:5000 denied pushing a tag to unit/agnes (HTTP 403)', {hint: 'log in with push rights'})
        this.puts.push(`${tag} ${manifest.digest}`)
        this.tags[tag] = manifest.digest
      },
      requests: 0,
    }
  }
}

/** The app's HTTP API as the deploy path reads it: health, version, and whether a sync runs. */
export async function serveApp(host: Host, busy: {syncLocked: boolean} = {syncLocked: false}): Promise<{server: Server; port: number; close: () => Promise<void>}> {
  const server = createServer((request, response) => {
    if (request.url === '/api/sync/status') {
      response.writeHead(200, {'content-type': 'application/json'})
      response.end(JSON.stringify({locked: busy.syncLocked}))
      return
    }

    const body = request.url === '/api/health' ? (host.healthy() ? {current: 7, db_schema: 'ok', status: 'ok'} : {current: 7, db_schema: 'unknown', status: 'starting'}) : {version: host.app?.digest === NEW ? '0.2.0' : '0.1.0'}
    response.writeHead(host.healthy() || request.url !== '/api/health' ? 200 : 503, {'content-type': 'application/json'})
    response.end(JSON.stringify(body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {close: () => new Promise((resolve) => server.close(() => resolve())), port: (server.address() as {port: number}).port, server}
}

/** An instance directory on the fake host, running OLD from the stable channel, with its app answering. */
export interface FakeInstance {
  dir: string
  paths: InstancePaths
  host: Host
  registry: FakeRegistry
  busy: {syncLocked: boolean}
  reporter: RecordingReporter
  deps: DeployDeps
  /** state.json as it is on disk now. */
  state(): InstanceState
  close(): Promise<void>
}

export async function fakeInstance(options: {state?: Partial<InstanceState>; tags?: Record<string, string>; env?: string} = {}): Promise<FakeInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'agnes-deploy-fake-'))
  const paths = instancePaths(dir)
  mkdirSync(paths.agnesDir, {recursive: true})
  const host = new Host(paths)
  const busy = {syncLocked: false}
  const app = await serveApp(host, busy)
  const old: Deployment = {deployedAt: '2026-04-01T00:00:00.000Z', digest: OLD, repository: REPO, tag: 'stable'}
  const state: InstanceState = {channel: 'stable', createdAt: '', current: old, knownGood: [old], managedFiles: {}, project: 'unit', rejected: [], repository: REPO, stateVersion: 1, tls: 'none', ...options.state}
  await writeManagedFile(paths, state, paths.compose, await renderCompose(`${REPO}@${state.current?.digest ?? OLD}`))
  await writeState(paths, state)
  writeFileSync(paths.env, `AGNES_HTTP_PORT=${app.port}\n${options.env ?? ''}`, {mode: 0o600})
  host.images.add(OLD)
  host.app = {digest: state.current?.digest ?? OLD, id: 'container-old', restartCount: 0, startedAt: 0, status: 'running'}
  const registry = new FakeRegistry(options.tags ?? {stable: OLD})
  return {
    busy,
    async close() {
      await app.close()
      rmSync(dir, {force: true, recursive: true})
    },
    deps: host.deps(registry),
    dir,
    host,
    paths,
    registry,
    reporter: new RecordingReporter(),
    state: () => JSON.parse(readFileSync(paths.stateFile, 'utf8')) as InstanceState,
  }
}

/** The AgnesError a promise rejects with (and that it does reject with one). */
export async function failure(promise: Promise<unknown>): Promise<AgnesError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(AgnesError)
  return error as AgnesError
}
