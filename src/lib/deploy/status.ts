import {ComposeCommand, detectCompose} from '../docker/compose.js'
import {DockerEngine} from '../docker/engine.js'
import {ConflictError} from '../errors.js'
import {HealthBody, VersionBody, fetchHealth, fetchVersion, isHealthy} from './health.js'
import {parseRepository} from '../image-registry/image-ref.js'
import {checkProjectOwnership} from '../instance/project.js'
import {readTextIfExists, loadInstance, localBaseUrl} from '../instance/state.js'
import {silentReporter} from '../ui/reporter.js'
import {runningDeprecation} from './deprecation.js'
import {HistoryEntry, readHistory} from './history.js'
import {Journal} from './journal.js'

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
  journal: Journal | null
  /** Why `.agnes/journal.json` exists but cannot be used (torn or hand-edited). */
  journalProblem: string | null
  rejected: string[]
  /** The publisher's `deprecated-*` tag of the running (or recorded) digest: it failed on the canary. */
  deprecated: string | null
  /**
   * Another existing directory runs this instance's Compose project: its containers and its app's answers
   * are not this instance's, so none are shown.
   */
  projectOwnedBy: string | null
  /** The newest `agnes history` entry, so one `status --json` tells a fleet everything (src/lib/fleet/status.ts). */
  lastHistory: HistoryEntry | null
  /** What to do now, in order (after an exit 11, an interrupted switch, an unreadable journal). */
  nextSteps: string[]
}

function describeRef(deployment: Journal['from']): string {
  return `${deployment.version ?? deployment.tag ?? 'unknown version'} (${deployment.digest.slice(0, 19)}…)`
}

/** Reads the journal for display; a torn or hand-edited one is a problem to report, never a crash. */
export function parseJournal(text: string | undefined, file: string): {journal: Journal | null; problem: string | null} {
  if (text === undefined) return {journal: null, problem: null}
  try {
    const journal = JSON.parse(text) as Journal
    if (typeof journal?.phase === 'string' && typeof journal.from?.digest === 'string' && typeof journal.to?.digest === 'string') return {journal, problem: null}
  } catch {
    // Reported below.
  }

  return {journal: null, problem: `${file} is not a readable journal (cut short or edited by hand)`}
}

/** The next steps a person takes, from the journal and what runs. */
export function nextSteps(result: Pick<StatusResult, 'dir' | 'journal' | 'journalProblem' | 'healthy' | 'running'>, projectProblem?: ConflictError): string[] {
  const {journal} = result
  if (projectProblem) return [`${projectProblem.message}.`, projectProblem.hint ?? '']
  if (result.journalProblem) {
    return [
      `${result.journalProblem}; agnes ignores it and the next switch replaces it.`,
      result.healthy ? 'The app is healthy: delete the file, or leave it.' : 'The app is not healthy: run `agnes up` to start the recorded version, then `agnes status` again.',
    ]
  }

  if (!journal) return []
  const runs = result.running?.digest ? `${result.running.digest.slice(0, 19)}… runs${result.healthy ? ' and is healthy' : ', not healthy'}` : 'no app container runs'
  if (journal.phase === 'rollback-failed') {
    return [
      `The ${journal.action} from ${describeRef(journal.from)} to ${describeRef(journal.to)} failed${journal.reason ? ` (${journal.reason})` : ''}, and switching back failed too (exit 11). Now ${runs}.`,
      `Find the cause: \`agnes logs app --tail 100 --dir ${result.dir}\` (disk, memory, the engine, .env).`,
      `Then run \`agnes up\` (or the next \`agnes upgrade\`): it finishes the journal, keeping ${describeRef(journal.from)} if it runs and is healthy, else switching back to it${journal.backup ? ` and restoring ${journal.backup} if the schema moved` : ''}.`,
      'Or run `agnes rollback --to <version>` to go to another known-good version (`agnes history` lists them).',
    ]
  }

  return [`An interrupted ${journal.action} (${journal.phase}) left a journal; now ${runs}. The next \`agnes up\`, \`upgrade\`, \`pin\` or \`rollback\` finishes it first.`]
}

/** What to do when the running build was deprecated by the publisher. */
export function deprecatedStep(tag: string, pinned: boolean): string {
  const how = pinned ? 'pin another version (`agnes pin <version>`) or follow the channel again (`agnes pin --channel stable`)' : 'the next `agnes upgrade` moves to the channel head, which the publisher moved back'
  return `The running build was marked ${tag} by the publisher (it failed on the canary): ${how}.`
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

/** What several statuses read in one process share (src/lib/fleet/host-status.ts): the engine and compose. */
export interface StatusDeps {
  engine?: () => Promise<DockerEngine>
  compose?: () => Promise<ComposeCommand>
}

export async function instanceStatus(dir: string, signal?: AbortSignal, deps: StatusDeps = {}): Promise<StatusResult> {
  const instance = await loadInstance(dir)
  const {env, paths, state} = instance
  const baseUrl = localBaseUrl(env)
  const {journal, problem} = parseJournal(await readTextIfExists(paths.journalFile), paths.journalFile)
  const result: StatusResult = {
    channel: state.channel,
    compose: null,
    containers: [],
    dir: paths.dir,
    docker: {reachable: false},
    following: state.pin ? `pinned to ${state.pin}` : `channel ${state.channel}`,
    health: null,
    healthy: false,
    journal: null,
    journalProblem: null,
    lastHistory: (await readHistory(paths)).at(-1) ?? null,
    nextSteps: [],
    pin: state.pin ?? null,
    project: state.project,
    projectOwnedBy: null,
    recorded: state.current ? {deployedAt: state.current.deployedAt, digest: state.current.digest, tag: state.current.tag, version: state.current.version} : null,
    deprecated: null,
    rejected: state.rejected,
    repository: state.repository,
    running: null,
  }

  let engine: DockerEngine | undefined
  let projectProblem: ConflictError | undefined
  try {
    engine = await (deps.engine ?? (() => DockerEngine.connect()))()
    result.docker = {reachable: true}
    const command = await (deps.compose ?? detectCompose)()
    result.compose = `${command.argv.join(' ')} ${command.version}`
    try {
      await checkProjectOwnership(engine, instance, silentReporter)
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error
      projectProblem = error
    }

    // What the project runs then belongs to the other directory: show none of it as this instance's.
    const containers = projectProblem ? [] : await engine.projectContainers(state.project)
    result.containers = containers.map(({name, service, state: containerState, status}) => ({name, service, state: containerState, status}))
    const app = containers.find((container) => container.service === 'app' && container.state === 'running')
    if (app) result.running = {digest: await runningDigest(engine, app.imageId, state.repository)}
  } catch (error) {
    result.docker = {error: (error as Error).message, reachable: false}
  }

  const [health, version]: [HealthBody | undefined, VersionBody | undefined] = projectProblem ? [undefined, undefined] : await Promise.all([fetchHealth(baseUrl, signal), fetchVersion(baseUrl, signal)])
  result.health = health ?? null
  result.healthy = isHealthy(health)
  if (version) {
    result.running = {...result.running, channel: version.channel, deployedAt: version.deployed_at, imageTag: version.image_tag, version: version.version}
  }

  result.journal = journal
  result.journalProblem = problem
  result.projectOwnedBy = (projectProblem?.details?.owner as string | undefined) ?? null
  const digest = result.running?.digest ?? state.current?.digest
  result.deprecated = (await runningDeprecation(state.repository, digest, signal)) ?? null
  result.nextSteps = [...nextSteps(result, projectProblem), ...(result.deprecated ? [deprecatedStep(result.deprecated, state.pin !== undefined)] : [])]
  return result
}
