import type {StatusResult} from '../deploy/status.js'
import {ExitCode} from '../errors.js'
import type {HostStatusResult} from './host-status.js'
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

function tooOld(version: string): string | undefined {
  return versionAtLeast(version, MIN_REMOTE_AGNES) ? undefined : `agnes ${version} there is older than ${MIN_REMOTE_AGNES}, the oldest the fleet commands work with; upgrade agnes on that host`
}

/** Checks the remote agnes first: a missing or too old agnes is a problem of that instance. */
export async function checkRemoteAgnes(transport: Transport, instance: FleetInstance): Promise<{version?: string; problem?: string}> {
  const {problem, version} = await transport.version(instance)
  if (!version) return {problem}
  return {problem: tooOld(version), version}
}

function unreadable(instance: FleetInstance, problem: string, agnesVersion?: string): FleetInstanceStatus {
  return {agnesVersion, dir: instance.dir, group: instance.group, name: instance.name, problem, reachable: false, target: describeTarget(instance.target)}
}

/** The row of an instance whose `agnes status` was read (the one mapping of a status to a fleet row). */
function readRow(instance: FleetInstance, agnesVersion: string, result: StatusResult): FleetInstanceStatus {
  const last = result.lastHistory
  return {
    agnesVersion,
    digest: result.running?.digest ?? result.recorded?.digest,
    dir: instance.dir,
    following: result.following,
    group: instance.group,
    healthy: result.healthy,
    lastOutcome: last ? {action: last.action, outcome: last.outcome, time: last.time} : undefined,
    name: instance.name,
    pendingJournal: result.journal ? result.journal.phase : result.journalProblem ? 'unreadable' : undefined,
    reachable: true,
    rejected: result.rejected,
    target: describeTarget(instance.target),
    version: result.running?.version ?? result.recorded?.version ?? result.recorded?.tag,
  }
}

/** An agnes that predates `fleet host-status`: its version first, then one `agnes status` for the instance. */
async function instanceFleetStatus(transport: Transport, instance: FleetInstance): Promise<FleetInstanceStatus> {
  const agnes = await checkRemoteAgnes(transport, instance)
  if (agnes.problem || !agnes.version) return unreadable(instance, agnes.problem ?? 'no agnes version', agnes.version)
  const status = await transport.agnes(instance, ['status'])
  if (!status.envelope?.ok) return unreadable(instance, problemOf(status), agnes.version)
  return readRow(instance, agnes.version, status.envelope.result as StatusResult)
}

/**
 * The rows of the instances of one host, in the given order, from one remote `agnes fleet host-status` (it
 * reports its agnes version too). Undefined when that agnes does not know the command (usage error, no JSON).
 */
async function hostRows(transport: Transport, instances: FleetInstance[]): Promise<FleetInstanceStatus[] | undefined> {
  const answer = await transport.agnesOnHost(instances[0], ['fleet', 'host-status', ...instances.map((instance) => instance.dir)])
  const {envelope} = answer
  if (!envelope && answer.exitCode === ExitCode.UNREACHABLE) return instances.map((instance) => unreadable(instance, problemOf(answer)))
  if (!envelope || answer.exitCode === ExitCode.USAGE) return undefined
  if (!envelope.ok) return instances.map((instance) => unreadable(instance, problemOf(answer)))
  const {agnesVersion, instances: entries} = envelope.result as HostStatusResult
  const old = tooOld(agnesVersion)
  if (old) return instances.map((instance) => unreadable(instance, old, agnesVersion))
  return instances.map((instance, index) => {
    const entry = entries[index]
    if (entry?.dir !== instance.dir) return unreadable(instance, 'agnes fleet host-status there gave no entry for this directory', agnesVersion)
    return entry.ok ? readRow(instance, agnesVersion, entry.result) : unreadable(instance, entry.error.message, agnesVersion)
  })
}

/**
 * Every instance in parallel, one remote agnes per host (at most `parallel` hosts at once), then one per
 * instance of the hosts whose agnes is older; an unreachable instance is reported, never fatal. Rows keep
 * the inventory's order.
 */
export async function fleetStatus(inventory: Inventory, transport: Transport, parallel = 16): Promise<FleetStatusResult> {
  const hosts = new Map<string, FleetInstance[]>()
  for (const instance of inventory.instances) {
    const key = describeTarget(instance.target)
    hosts.set(key, [...(hosts.get(key) ?? []), instance])
  }

  const read = new Map<FleetInstance, FleetInstanceStatus>()
  const older: FleetInstance[] = []
  for (const {item, value} of await inPool([...hosts.values()], parallel, (instances) => hostRows(transport, instances))) {
    if (value) for (const [index, instance] of item.entries()) read.set(instance, value[index])
    else older.push(...item)
  }

  for (const {item, value} of await inPool(older, parallel, (instance) => instanceFleetStatus(transport, instance))) read.set(item, value)
  const rows = inventory.instances.map((instance) => read.get(instance)!)
  return {
    healthy: rows.filter((row) => row.healthy).length,
    instances: rows,
    inventory: inventory.file,
    reachable: rows.filter((row) => row.reachable).length,
    unreachable: rows.filter((row) => !row.reachable).length,
  }
}
