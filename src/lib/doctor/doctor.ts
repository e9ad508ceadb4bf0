import {existsSync} from 'node:fs'
import {resolve} from 'node:path'

import {ComposeCommand, CommandRunner, detectCompose, execaRunner} from '../docker/compose.js'
import {engineEndpoint} from '../docker/endpoint.js'
import {DockerEngine, ProjectContainer} from '../docker/engine.js'
import {AgnesError, DockerError, InvalidInputError} from '../errors.js'
import {fetchHealth} from '../deploy/health.js'
import {readHistoryReport} from '../deploy/history.js'
import {readLock} from '../instance/lock-file.js'
import {instancePaths} from '../instance/paths.js'
import {Instance, loadInstance, localBaseUrl, readTextIfExists} from '../instance/state.js'
import {RecordingReporter} from '../ui/reporter.js'
import {scheduleStatus} from '../schedule/schedule.js'
import {
  Finding,
  PortProbe,
  certificateFinding,
  composeFinding,
  diskFinding,
  engineFinding,
  healthFinding,
  instanceFinding,
  journalFinding,
  lastUpgradeFinding,
  lockFinding,
  memoryFinding,
  nofileFinding,
  notAnInstance,
  portsFinding,
  rejectedFinding,
  scheduleFinding,
} from './findings.js'
import {certificateFromFile, engineOpenFileLimit, freeBytes, portInUse, servedCertificate} from './probes.js'
import {isHeldByLiveProcess} from '../instance/lock-file.js'
import {parseJournal} from '../deploy/status.js'
import {runningDeprecation} from '../deploy/deprecation.js'

export interface DoctorReport {
  dir: string
  /** Whether the directory is an agnes instance; when not, only the host was checked. */
  instance: boolean
  findings: Finding[]
  summary: {ok: number; warn: number; fail: number}
}

export interface DoctorOptions {
  dir: string
  /** Where the schedule files are looked for (as `agnes schedule --root`). */
  scheduleRoot: string
  signal?: AbortSignal
  run?: CommandRunner
  /** Per check; a check that takes longer is reported as not checked. */
  timeoutMs?: number
}

/** The engine and Compose checks: when one fails, nothing that needs them could be checked (exit 9). */
const ENGINE_FINDINGS = new Set(['engine', 'compose'])

/** Runs one check within the time limit; a check that fails to run becomes a warning, never a crash. */
async function guarded(id: string, timeoutMs: number, check: () => Promise<Finding>): Promise<Finding> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<Finding>((resolve) => {
    timer = setTimeout(() => resolve({id, message: `not checked: no answer within ${timeoutMs / 1000} s`, status: 'warn'}), timeoutMs)
  })
  try {
    return await Promise.race([
      check().catch((error: unknown): Finding => {
        if (error instanceof AgnesError && error.exitCode === 130) throw error
        return {id, message: `not checked: ${(error as Error).message}`, status: 'warn'}
      }),
      late,
    ])
  } finally {
    clearTimeout(timer)
  }
}

type Loaded = {instance: Instance} | {notInstance: true} | {error: AgnesError}

async function load(dir: string): Promise<Loaded> {
  try {
    if (!existsSync(instancePaths(dir).stateFile)) return {notInstance: true}
    return {instance: await loadInstance(dir)}
  } catch (error) {
    if (error instanceof AgnesError) return {error}
    throw error
  }
}


/** Diagnoses the host and, when `dir` is one, the instance: every check runs in parallel with a time limit. */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const timeoutMs = options.timeoutMs ?? 10_000
  const run: CommandRunner = (file, args, runOptions) => (options.run ?? execaRunner)(file, args, {...runOptions, signal: options.signal, timeoutMs: Math.min(runOptions.timeoutMs ?? timeoutMs, timeoutMs)})
  const dir = resolve(options.dir)
  const loaded = await load(dir)
  const instance = 'instance' in loaded ? loaded.instance : undefined
  const env = instance?.env

  let endpointLabel = 'DOCKER_HOST'
  let local = false
  const engine: Promise<{engine?: DockerEngine; info?: Awaited<ReturnType<DockerEngine['info']>>; error?: string}> = (async () => {
    try {
      const endpoint = engineEndpoint()
      endpointLabel = endpoint.label
      local = endpoint.kind === 'unix'
      const connected = await DockerEngine.connect({timeoutMs: Math.min(5000, timeoutMs)})
      return {engine: connected, info: await connected.info()}
    } catch (error) {
      return {error: (error as Error).message}
    }
  })()
  const containers: Promise<ProjectContainer[] | undefined> = engine.then(async ({engine: connected}) => (connected && instance ? connected.projectContainers(instance.state.project).catch(() => undefined) : undefined))
  const running = async (service: string) => ((await containers) ?? []).some((container) => container.service === service && container.state === 'running')

  const forInstance = (id: string, check: (instance: Instance) => Promise<Finding>): Promise<Finding> => {
    if (!instance) return Promise.resolve('notInstance' in loaded ? notAnInstance(id) : {id, message: 'not checked: the instance could not be read', status: 'warn'})
    return guarded(id, timeoutMs, () => check(instance))
  }

  const checks: Array<Promise<Finding>> = [
    Promise.resolve(
      'error' in loaded
        ? instanceFinding({dir, error: loaded.error.message, hint: loaded.error.hint})
        : instance
          ? instanceFinding({dir, following: instance.state.pin ? `pinned to ${instance.state.pin}` : `following ${instance.state.channel}`, project: instance.state.project})
          : instanceFinding({dir, notInstance: true}),
    ),
    guarded('engine', timeoutMs, async () => {
      const {error, info} = await engine
      return engineFinding({endpoint: endpointLabel, error, version: info?.serverVersion})
    }),
    guarded('compose', timeoutMs, async () => {
      let command: ComposeCommand
      try {
        command = await detectCompose(run)
      } catch (error) {
        if (error instanceof AgnesError) return composeFinding({error: error.message, hint: error.hint})
        throw error
      }

      return composeFinding(command)
    }),
    guarded('disk', timeoutMs, async () => {
      const {info} = await engine
      const places: Array<{what: string; path: string; freeBytes: number}> = []
      const add = async (what: string, path: string) => {
        const free = await freeBytes(path)
        if (free !== undefined) places.push({freeBytes: free, path, what})
      }

      if (info?.dockerRootDir && local) await add('images', info.dockerRootDir)
      if (instance) await add('backups', instance.paths.agnesDir)
      return diskFinding(places)
    }),
    guarded('memory', timeoutMs, async () => {
      const {info} = await engine
      const limits = env
        ? [
            {fallback: '4g', key: 'AGNES_APP_MEM_LIMIT', value: env.get('AGNES_APP_MEM_LIMIT')},
            {fallback: '2g', key: 'AGNES_SCHEDULER_MEM_LIMIT', value: env.get('AGNES_SCHEDULER_MEM_LIMIT')},
          ]
        : undefined
      return memoryFinding({limits, memTotal: info?.memTotal || undefined})
    }),
    guarded('nofile', timeoutMs, async () => {
      const {error} = await engine
      const limit = error === undefined && local ? engineOpenFileLimit() : {why: error === undefined ? `the engine at ${endpointLabel} is not on this host` : 'the engine does not answer'}
      return nofileFinding({configured: env?.get('AGNES_NOFILE'), engineLimit: limit.limit, engineWhy: limit.why, instance: instance !== undefined})
    }),
    forInstance('ports', async ({env: instanceEnv, state}) => {
      const probes: PortProbe[] = []
      const appPort = Number(instanceEnv.get('AGNES_HTTP_PORT') ?? '8000')
      const appHost = instanceEnv.get('AGNES_HTTP_BIND') ?? '0.0.0.0'
      probes.push({host: appHost, inUse: await portInUse(appPort, appHost), ours: await running('app'), port: appPort, role: 'app'})
      if (state.tls !== 'none') {
        const caddy = await running('caddy')
        for (const [key, fallback, role] of [['AGNES_PUBLIC_HTTP_PORT', '80', 'caddy http'], ['AGNES_PUBLIC_HTTPS_PORT', '443', 'caddy https']] as const) {
          const port = Number(instanceEnv.get(key) ?? fallback)
          probes.push({host: '0.0.0.0', inUse: await portInUse(port, '0.0.0.0'), ours: caddy, port, role})
        }
      }

      return portsFinding(probes)
    }),
    forInstance('health', async ({env: instanceEnv, state}) => {
      const url = localBaseUrl(instanceEnv)
      const [body, appRunning] = await Promise.all([fetchHealth(url, options.signal), running('app')])
      return healthFinding({appRunning, body, deployed: state.current !== undefined, url})
    }),
    forInstance('lock', async ({paths}) => {
      const exists = existsSync(paths.lockFile)
      const owner = exists ? await readLock(paths.lockFile) : undefined
      return lockFinding({alive: isHeldByLiveProcess(owner), exists, lockFile: paths.lockFile, now: Date.now(), owner})
    }),
    forInstance('journal', async ({paths}) => {
      const {journal, problem} = parseJournal(await readTextIfExists(paths.journalFile), paths.journalFile)
      const owner = await readLock(paths.lockFile)
      return journalFinding({journal: journal ?? undefined, problem: problem ?? undefined, runInProgress: isHeldByLiveProcess(owner)})
    }),
    forInstance('last-upgrade', async ({paths}) => lastUpgradeFinding(await readHistoryReport(paths))),
    forInstance('rejected', async ({state}) => rejectedFinding({currentDigest: state.current?.digest, deprecatedTag: await runningDeprecation(state.repository, state.current?.digest, options.signal), pinned: state.pin !== undefined, rejected: state.rejected})),
    forInstance('schedule', async ({state}) => {
      const pinned = state.pin !== undefined
      try {
        const status = await scheduleStatus({dir, reporter: new RecordingReporter(), root: options.scheduleRoot, run})
        return scheduleFinding({channel: state.channel, pinned, status})
      } catch (error) {
        return scheduleFinding({channel: state.channel, error: (error as Error).message, pinned})
      }
    }),
    forInstance('certificate', async ({env: instanceEnv, paths, state}) => {
      const domain = instanceEnv.get('DOMAIN') || undefined
      const now = Date.now()
      if (state.tls === 'none') return certificateFinding({now, tls: state.tls})
      const isFiles = state.tls === 'files'
      const port = Number(instanceEnv.get('AGNES_PUBLIC_HTTPS_PORT') ?? '443')
      const source = isFiles ? resolve(paths.dir, instanceEnv.get('AGNES_TLS_CERT_DIR') || 'certs', 'fullchain.pem') : `https://127.0.0.1:${port}`
      try {
        const cert = isFiles ? await certificateFromFile(source, domain) : await servedCertificate(port, domain, Math.min(3000, timeoutMs))
        return certificateFinding({cert, domain, now, source, tls: state.tls})
      } catch (error) {
        return certificateFinding({domain, error: (error as Error).message, now, source, tls: state.tls})
      }
    }),
  ]

  const findings = await Promise.all(checks)
  const summary = {fail: 0, ok: 0, warn: 0}
  for (const finding of findings) summary[finding.status]++
  return {dir, findings, instance: instance !== undefined, summary}
}

/** Exit 0 with warnings only; 9 when the engine or Compose failed; 3 when any other finding failed. */
export function doctorFailure(report: DoctorReport): AgnesError | undefined {
  const failed = report.findings.filter((finding) => finding.status === 'fail')
  if (failed.length === 0) return undefined
  const ids = failed.map((finding) => finding.id).join(', ')
  const message = `${failed.length} finding${failed.length === 1 ? '' : 's'} failed: ${ids}`
  const hint = `Each failed finding says what to fix: ${failed[0].fix ?? failed[0].message}`
  if (failed.some((finding) => ENGINE_FINDINGS.has(finding.id))) return new DockerError(message, {hint, result: report})
  return new InvalidInputError(message, {hint, result: report})
}
