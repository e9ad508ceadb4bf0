import {detectCompose} from './docker/compose.js'
import {DockerEngine} from './docker/engine.js'
import {HealthBody, VersionBody, fetchHealth, fetchVersion, isHealthy} from './health.js'
import {parseRepository} from './image-ref.js'
import {readTextIfExists, loadInstance, localBaseUrl} from './instance/state.js'

export interface StatusResult {
  dir: string
  project: string
  repository: string
  channel: string
  pin: string | null
  following: string
  recorded: {digest: string; tag?: string; version?: string; deployedAt: string} | null
  running: {version?: string; channel?: string; imageTag?: string; deployedAt?: string; digest?: string} | null
  containers: Array<{service: string; name: string; state: string; status: string}>
  health: HealthBody | null
  healthy: boolean
  compose: string | null
  docker: {reachable: boolean; error?: string}
  /** An interrupted upgrade's journal, when one is waiting to be finished. */
  journal: unknown
  rejected: string[]
}

/** The manifest digest of the image a container runs, from the image's RepoDigests for our repository. */
async function runningDigest(engine: DockerEngine, imageId: string, repository: string): Promise<string | undefined> {
  try {
    const image = await engine.api.getImage(imageId).inspect()
    const name = parseRepository(repository).name
    const match = (image.RepoDigests ?? []).find((entry) => entry.startsWith(`${name}@`))
    return match?.slice(name.length + 1)
  } catch {
    return undefined
  }
}

export async function instanceStatus(dir: string, signal?: AbortSignal): Promise<StatusResult> {
  const {env, paths, state} = await loadInstance(dir)
  const baseUrl = localBaseUrl(env)
  const journalText = await readTextIfExists(paths.journalFile)
  const result: StatusResult = {
    channel: state.channel,
    compose: null,
    containers: [],
    dir: paths.dir,
    docker: {reachable: false},
    following: state.pin ? `pinned to ${state.pin}` : `channel ${state.channel}`,
    health: null,
    healthy: false,
    journal: journalText === undefined ? null : JSON.parse(journalText),
    pin: state.pin ?? null,
    project: state.project,
    recorded: state.current ? {deployedAt: state.current.deployedAt, digest: state.current.digest, tag: state.current.tag, version: state.current.version} : null,
    rejected: state.rejected,
    repository: state.repository,
    running: null,
  }

  let engine: DockerEngine | undefined
  try {
    engine = await DockerEngine.connect()
    result.docker = {reachable: true}
    const command = await detectCompose()
    result.compose = `${command.argv.join(' ')} ${command.version}`
    const containers = await engine.projectContainers(state.project)
    result.containers = containers.map(({name, service, state: containerState, status}) => ({name, service, state: containerState, status}))
    const app = containers.find((container) => container.service === 'app' && container.state === 'running')
    if (app) result.running = {digest: await runningDigest(engine, app.imageId, state.repository)}
  } catch (error) {
    result.docker = {error: (error as Error).message, reachable: false}
  }

  const [health, version]: [HealthBody | undefined, VersionBody | undefined] = await Promise.all([fetchHealth(baseUrl, signal), fetchVersion(baseUrl, signal)])
  result.health = health ?? null
  result.healthy = isHealthy(health)
  if (version) {
    result.running = {...result.running, channel: version.channel, deployedAt: version.deployed_at, imageTag: version.image_tag, version: version.version}
  }

  return result
}
