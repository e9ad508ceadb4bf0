import type Dockerode from 'dockerode'

import {AgnesError, AuthError, DockerError, NotFoundError, UnreachableError} from '../errors.js'
import {parseReference} from '../image-registry/image-ref.js'
import {registryPullAuth} from '../image-registry/auth.js'
import {Reporter} from '../ui/reporter.js'
import {engineEndpoint, engineFailure, engineTransport} from './endpoint.js'
import {PullEvent, PullProgress, Throttle} from './pull-progress.js'

export interface ProjectContainer {
  id: string
  name: string
  service: string
  state: string
  status: string
  imageId: string
  image: string
}

export interface ContainerState {
  status: string
  running: boolean
  restarting: boolean
  exitCode: number
  restartCount: number
  health?: string
  imageId: string
  startedAt: string
}

/** A Compose-labelled container or volume on the engine: which project it belongs to and where Compose ran. */
export interface ComposeResource {
  kind: 'container' | 'volume'
  name: string
  project: string
  /** `com.docker.compose.project.working_dir`: containers have it, volumes do not. */
  workingDir?: string
}

const PULL_PROGRESS_INTERVAL_MS = 2000

/** A thin, lazily loaded wrapper around the Docker engine API; every failure becomes a typed error. */
export class DockerEngine {
  private constructor(readonly api: Dockerode) {}

  /** Connects as DOCKER_HOST says (unix socket, tcp, TLS or ssh) and checks the engine answers. */
  static async connect(options: {timeoutMs?: number} = {}): Promise<DockerEngine> {
    const endpoint = engineEndpoint()
    const transport = engineTransport(endpoint)
    const {default: Docker} = await import('dockerode')
    const {options: connection, secure} = transport
    const api = new Docker({
      ...connection,
      ...(endpoint.kind === 'unix' ? {} : {protocol: secure ? 'https' : 'http'}),
      ...(options.timeoutMs ? {timeout: options.timeoutMs} : {}),
    })
    const engine = new DockerEngine(api)
    try {
      await engine.api.ping()
    } catch (error) {
      throw new DockerError(`the Docker engine is not reachable at ${endpoint.label} (${engineFailure(transport, error)})`, {
        hint: 'Start it (`systemctl start docker`), check DOCKER_HOST, and that this user may use the Docker socket.',
      })
    }

    return engine
  }

  async info(): Promise<{memTotal: number; dockerRootDir: string; serverVersion: string}> {
    const info = await this.api.info()
    return {dockerRootDir: info.DockerRootDir, memTotal: info.MemTotal, serverVersion: info.ServerVersion}
  }

  /** The id of a local image, or undefined when it is not present. */
  async imageId(reference: string): Promise<string | undefined> {
    try {
      const image = await this.api.getImage(reference).inspect()
      return image.Id
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) return undefined
      throw new DockerError(`cannot inspect image ${reference}: ${(error as Error).message}`)
    }
  }

  /** Pulls an image, reporting layers and megabytes as they arrive; registry problems are exit 8 or 6, the rest exit 9. */
  async pull(reference: string, reporter: Reporter, signal?: AbortSignal): Promise<void> {
    reporter.progress(`Pulling ${reference}…`)
    const started = Date.now()
    let stream: NodeJS.ReadableStream
    try {
      // A private image needs the same Docker-config login the registry API used to resolve it.
      const authconfig = await registryPullAuth(parseReference(reference).repository.registry)
      stream = (await this.api.pull(reference, {abortSignal: signal, ...(authconfig ? {authconfig} : {})})) as NodeJS.ReadableStream
    } catch (error) {
      throw pullError(reference, error)
    }

    const progress = new PullProgress()
    const throttle = new Throttle(PULL_PROGRESS_INTERVAL_MS)
    await new Promise<void>((resolve, reject) => {
      this.api.modem.followProgress(
        stream,
        (error: Error | null) => (error ? reject(pullError(reference, error)) : resolve()),
        (event: PullEvent) => {
          if (event.error) return
          progress.add(event)
          if (progress.layerCount > 0 && throttle.due()) reporter.progress(`  ${progress.describe()}`)
        },
      )
    })
    reporter.progress(`Pulled ${reference} in ${((Date.now() - started) / 1000).toFixed(1)} s ${progress.summary()}`)
  }

  async projectContainers(project: string, service?: string): Promise<ProjectContainer[]> {
    const labels = [`com.docker.compose.project=${project}`]
    if (service) labels.push(`com.docker.compose.service=${service}`)
    const containers = await this.api.listContainers({all: true, filters: {label: labels}})
    return containers.map((container) => ({
      id: container.Id,
      image: container.Image,
      imageId: container.ImageID,
      name: (container.Names[0] ?? '').replace(/^\//, ''),
      service: container.Labels['com.docker.compose.service'] ?? '',
      state: container.State,
      status: container.Status,
    }))
  }

  /** The containers and volumes that carry a Compose project label: of one project, or of every project. */
  async composeResources(project?: string): Promise<ComposeResource[]> {
    const filters = {label: [project === undefined ? 'com.docker.compose.project' : `com.docker.compose.project=${project}`]}
    let listed: [Dockerode.ContainerInfo[], {Volumes?: Dockerode.VolumeInspectInfo[]}]
    try {
      listed = await Promise.all([this.api.listContainers({all: true, filters}), this.api.listVolumes({filters})])
    } catch (error) {
      throw new DockerError(`cannot list the Compose projects on the engine: ${(error as Error).message}`)
    }

    const [containers, {Volumes: volumes}] = listed
    return [
      ...containers.map((container) => ({
        kind: 'container' as const,
        name: (container.Names[0] ?? container.Id).replace(/^\//, ''),
        project: container.Labels['com.docker.compose.project'],
        workingDir: container.Labels['com.docker.compose.project.working_dir'],
      })),
      ...(volumes ?? []).map((volume) => ({kind: 'volume' as const, name: volume.Name, project: (volume.Labels ?? {})['com.docker.compose.project']})),
    ]
  }

  async containerState(id: string): Promise<ContainerState | undefined> {
    try {
      const info = await this.api.getContainer(id).inspect()
      return {
        exitCode: info.State.ExitCode,
        health: info.State.Health?.Status,
        imageId: info.Image,
        restartCount: info.RestartCount,
        restarting: info.State.Restarting,
        running: info.State.Running,
        startedAt: info.State.StartedAt,
        status: info.State.Status,
      }
    } catch (error) {
      if ((error as {statusCode?: number}).statusCode === 404) return undefined
      throw error
    }
  }

  /** The last lines a container logged, for error messages (the caller redacts). */
  async logTail(id: string, lines = 15): Promise<string> {
    try {
      const buffer = (await this.api.getContainer(id).logs({stderr: true, stdout: true, tail: lines})) as unknown as Buffer
      return demultiplex(buffer).toString('utf8').trimEnd()
    } catch {
      return ''
    }
  }

  async removeImage(reference: string): Promise<boolean> {
    try {
      await this.api.getImage(reference).remove()
      return true
    } catch {
      return false
    }
  }
}

/** Docker multiplexes stdout/stderr in 8-byte-framed chunks when the container has no TTY. */
function demultiplex(buffer: Buffer): Buffer {
  if (buffer.length < 8 || buffer[1] !== 0 || buffer[2] !== 0 || buffer[3] !== 0 || buffer[0] > 2) return buffer
  const parts: Buffer[] = []
  let offset = 0
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4)
    parts.push(buffer.subarray(offset + 8, offset + 8 + size))
    offset += 8 + size
  }

  return Buffer.concat(parts)
}

function pullError(reference: string, error: unknown): AgnesError {
  const message = (error as Error).message ?? String(error)
  if (/manifest unknown|not found|no such manifest/i.test(message)) {
    return new NotFoundError(`image ${reference} was not found in its registry`, {hint: 'Check the image repository and version; `agnes status` shows what is configured.'})
  }

  if (/connection refused|timeout|no such host|i\/o timeout|TLS handshake|EOF/i.test(message)) {
    return new UnreachableError(`the registry for ${reference} is unreachable: ${message.split('\n')[0]}`, {hint: 'Try again later; nothing was changed.'})
  }

  if (/unauthorized|denied/i.test(message)) {
    return new AuthError(`the registry refused to serve ${reference}: ${message.split('\n')[0]}`, {hint: 'Log in with `docker login <registry>` if the repository is private.'})
  }

  return new DockerError(`pulling ${reference} failed: ${message.split('\n')[0]}`)
}
