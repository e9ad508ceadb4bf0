import {Compose, detectCompose, execaRunner} from '../docker/compose.js'
import {DockerEngine} from '../docker/engine.js'
import {engineEndpoint} from '../docker/endpoint.js'
import {runningAppDigest} from '../docker/socket.js'
import {engineOpenFileLimit} from '../doctor/probes.js'
import {createRegistryClient, RegistryClient} from '../image-registry/client.js'
import {createPublisher, RegistryPublisher} from '../image-registry/publish.js'
import {checkProjectOwnership} from '../instance/project.js'
import {Instance, InstanceState, localBaseUrl} from '../instance/state.js'
import {Reporter} from '../ui/reporter.js'

export const APP_SERVICE = 'app'
/** How many good deployments are remembered (rollback targets whose images stay on disk). */
export const KNOWN_GOOD_KEPT = 5

/** What a deploy decision needs from the outside world; tests pass fakes (test/unit/deploy/fake-host.ts). */
export interface DeployDeps {
  /** The Docker engine, connected and answering. */
  connectEngine(): Promise<DockerEngine>
  /** Compose for this instance's project, in the flavour the host has. */
  openCompose(instance: Instance): Promise<Compose>
  /** A registry API client; whoever opens one closes it. */
  openRegistry(signal?: AbortSignal): RegistryClient
  /** Registry writes (tags) for a repository, with the push login from the Docker config. */
  openPublisher(repository: string, signal?: AbortSignal): RegistryPublisher
  /** The digest the running app container was started from, without loading dockerode (the no-op cron tick). */
  runningApp(instance: Instance): Promise<{digest?: string; running: boolean}>
  /** The open-file limit the engine can grant a container; undefined (with why) when it cannot be known here. */
  engineOpenFileLimit(): {limit?: number; why?: string}
}

export const hostDeployDeps: DeployDeps = {
  connectEngine: () => DockerEngine.connect(),
  async openCompose(instance) {
    const command = await detectCompose(execaRunner)
    return new Compose(command, {paths: instance.paths, profiles: composeProfiles(instance.state), project: instance.state.project}, execaRunner)
  },
  openRegistry: (signal) => createRegistryClient({signal}),
  openPublisher: (repository, signal) => createPublisher(repository, {signal}),
  runningApp: ({paths, state}) => runningAppDigest(state.project, state.repository, paths.dir),
  // dockerd's own limit is only visible when the engine runs on this host (a unix socket).
  engineOpenFileLimit: () => (engineEndpoint().kind === 'unix' ? engineOpenFileLimit() : {why: 'the Docker engine is not on this host'}),
}

export interface DeployContext {
  instance: Instance
  engine: DockerEngine
  compose: Compose
  reporter: Reporter
  signal?: AbortSignal
  baseUrl: string
  /** The engine's open-file limit, checked against AGNES_NOFILE before anything stops (preflight.ts). */
  engineOpenFileLimit: DeployDeps['engineOpenFileLimit']
}

/** Opens the engine and Compose for an instance; pass the loaded Instance so its state stays one object. */
export async function openDeployContext(instance: Instance, reporter: Reporter, signal?: AbortSignal, deps: DeployDeps = hostDeployDeps): Promise<DeployContext> {
  const engine = await deps.connectEngine()
  await checkProjectOwnership(engine, instance, reporter)
  const compose = await deps.openCompose(instance)
  return {baseUrl: localBaseUrl(instance.env), compose, engine, engineOpenFileLimit: deps.engineOpenFileLimit, instance, reporter, signal}
}

export function composeProfiles(state: InstanceState): string[] {
  return state.tls === 'none' ? [] : ['tls']
}

/** The tag the instance should run: its pin, or its channel. */
export function desiredTag(state: InstanceState): string {
  return state.pin ?? state.channel
}
