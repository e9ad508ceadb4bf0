import type {StatusResult} from '../deploy/status.js'
import {FleetInstance, Inventory, describeTarget} from './inventory.js'
import {inPool} from './pool.js'
import {MIN_REMOTE_AGNES, RemoteAnswer, Transport, versionAtLeast} from './transport.js'

export interface FleetInstanceStatus {
  name: string
  group: string
  target: string
  dir: string
  reachable: boolean
  /** Why it could not be read: ssh failed, agnes too old or missing, the directory is not an instance. */
  problem?: string
  agnesVersion?: string
  version?: string
  digest?: string
  healthy?: boolean
  following?: string
  lastOutcome?: {action: string; outcome: string; time: string}
  /** The phase of an interrupted switch's journal, when one waits to be finished. */
  pendingJournal?: string
  rejected?: string[]
}

export interface FleetStatusResult {
  inventory: string
  instances: FleetInstanceStatus[]
  reachable: number
  unreachable: number
  healthy: number
}

function problemOf(answer: RemoteAnswer): string {
  return answer.problem ?? answer.envelope?.error?.message ?? `exit ${answer.exitCode}`
}

/** Checks the remote agnes first: a missing or too old agnes is a problem of that instance. */
export async function checkRemoteAgnes(transport: Transport, instance: FleetInstance): Promise<{version?: string; problem?: string}> {
  const {problem, version} = await transport.version(instance)
  if (!version) return {problem}
  if (!versionAtLeast(version, MIN_REMOTE_AGNES)) return {problem: `agnes ${version} there is older than ${MIN_REMOTE_AGNES}, the oldest the fleet commands work with; upgrade agnes on that host`, version}
  return {version}
}

export async function instanceFleetStatus(transport: Transport, instance: FleetInstance): Promise<FleetInstanceStatus> {
  const base = {dir: instance.dir, group: instance.group, name: instance.name, target: describeTarget(instance.target)}
  const agnes = await checkRemoteAgnes(transport, instance)
  if (agnes.problem) return {...base, agnesVersion: agnes.version, problem: agnes.problem, reachable: false}
  // One remote agnes per instance: `status --json` carries the last history entry too.
  const status = await transport.agnes(instance, ['status'])
  if (!status.envelope?.ok) return {...base, agnesVersion: agnes.version, problem: problemOf(status), reachable: false}
  const result = status.envelope.result as StatusResult
  const last = result.lastHistory
  return {
    ...base,
    agnesVersion: agnes.version,
    digest: result.running?.digest ?? result.recorded?.digest,
    following: result.following,
    healthy: result.healthy,
    lastOutcome: last ? {action: last.action, outcome: last.outcome, time: last.time} : undefined,
    pendingJournal: result.journal ? result.journal.phase : result.journalProblem ? 'unreadable' : undefined,
    reachable: true,
    rejected: result.rejected,
    version: result.running?.version ?? result.recorded?.version ?? result.recorded?.tag,
  }
}

/** Every instance in parallel (at most `parallel` at once); an unreachable one is reported, never fatal. */
export async function fleetStatus(inventory: Inventory, transport: Transport, parallel = 16): Promise<FleetStatusResult> {
  const rows = (await inPool(inventory.instances, parallel, (instance) => instanceFleetStatus(transport, instance))).map(({value}) => value)
  return {
    healthy: rows.filter((row) => row.healthy).length,
    instances: rows,
    inventory: inventory.file,
    reachable: rows.filter((row) => row.reachable).length,
    unreachable: rows.filter((row) => !row.reachable).length,
  }
}
