import {readFile} from 'node:fs/promises'
import {isAbsolute} from 'node:path'
import {LineCounter, isMap, isSeq, parseDocument, type Document} from 'yaml'

import {InvalidInputError} from '../errors.js'
import {parseDuration} from './duration.js'

export type SshTarget = {kind: 'local'} | {kind: 'ssh'; user?: string; host: string; port: number}

export interface FleetInstance {
  name: string
  target: SshTarget
  /** The instance directory on that host (absolute). */
  dir: string
  group: string
}

export type HaltPolicy = 'reject-fleet' | 'stop'

export interface RolloutSettings {
  soakMs: number
  pauseMs: number
  parallel: number
  checkEveryMs: number
  halt: HaltPolicy
  /** The canary runs `agnes upgrade --retract-on-failure` (it holds the push credentials). */
  retractOnFailure: boolean
}

export interface Inventory {
  file: string
  instances: FleetInstance[]
  /** Groups in rollout order: `canary` first, then the waves. */
  groups: Array<{name: string; instances: FleetInstance[]}>
  rollout: RolloutSettings
  ssh: {knownHosts?: string; identityFile?: string}
  /** The `agnes` command on the remote hosts. */
  agnes: string
}

export const CANARY = 'canary'
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
const USER = /^[A-Za-z_][A-Za-z0-9._-]{0,31}$/
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** A directory or file path sent to a remote command: absolute, one line, no `..`, no leading dash. */
export function isSafeRemotePath(path: string): boolean {
  return isAbsolute(path) && !/[\0\n\r]/.test(path) && !path.split('/').includes('..')
}

/** Parses `local` or `[user@]host[:port]`; undefined when it is neither (a leading `-` never passes). */
export function parseTarget(text: string): SshTarget | undefined {
  if (text === 'local') return {kind: 'local'}
  const match = /^(?:([^@]+)@)?([^:@]+)(?::(\d{1,5}))?$/.exec(text)
  if (!match) return undefined
  const [, user, host, portText] = match
  const port = portText === undefined ? 22 : Number(portText)
  if (user !== undefined && !USER.test(user)) return undefined
  if (!HOST.test(host) || port < 1 || port > 65_535) return undefined
  return {host, kind: 'ssh', port, user}
}

export function describeTarget(target: SshTarget): string {
  if (target.kind === 'local') return 'local'
  return `${target.user ? `${target.user}@` : ''}${target.host}${target.port === 22 ? '' : `:${target.port}`}`
}

/** Splits `count` instances into waves of `size` (a number, or `N%` of them, at least one each). */
export function waveSizeOf(spec: string | number, count: number): number | undefined {
  const text = String(spec).trim()
  const percent = /^(\d{1,3})%$/.exec(text)
  if (percent) {
    const share = Number(percent[1])
    return share >= 1 && share <= 100 ? Math.max(1, Math.ceil((count * share) / 100)) : undefined
  }

  return /^\d+$/.test(text) && Number(text) >= 1 ? Number(text) : undefined
}

class Problems {
  readonly list: string[] = []
  constructor(private readonly file: string, private readonly doc: Document, private readonly lines: LineCounter) {}

  add(path: Array<string | number>, message: string): void {
    const node = path.length === 0 ? this.doc.contents : (this.doc.getIn(path, true) as {range?: [number, number, number]} | undefined)
    const offset = (node as {range?: [number, number, number]} | null | undefined)?.range?.[0]
    const where = offset === undefined ? this.file : `${this.file}:${this.lines.linePos(offset).line}`
    this.list.push(`${where}: ${path.join('.') || 'the document'}: ${message}`)
  }
}

function durationAt(raw: unknown, path: string[], fallback: number, problems: Problems): number {
  if (raw === undefined) return fallback
  const ms = parseDuration(String(raw))
  if (ms === undefined) problems.add(path, `"${String(raw)}" is not a duration (e.g. 30s, 10m, 1h)`)
  return ms ?? fallback
}

/** Reads and validates the whole inventory; every problem is listed with its line (exit 3). */
export async function loadInventory(file: string): Promise<Inventory> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new InvalidInputError(`cannot read the inventory ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      hint: 'Pass --inventory (or AGNES_INVENTORY) with the path of a fleet YAML file; docs/fleet.md shows one.',
    })
  }

  return parseInventory(text, file)
}

export function parseInventory(text: string, file: string): Inventory {
  const lines = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true})
  if (doc.errors.length > 0) {
    const first = doc.errors[0]
    throw new InvalidInputError(`${file}:${lines.linePos(first.pos[0]).line}: not valid YAML: ${first.message.split('\n')[0]}`, {hint: 'Fix the YAML syntax, then re-run.'})
  }

  const problems = new Problems(file, doc, lines)
  const data = doc.toJS() as Record<string, unknown> | null
  if (!isMap(doc.contents) || data === null || typeof data !== 'object') {
    throw new InvalidInputError(`${file}: the inventory must be a mapping with an "instances" list`, {hint: 'See docs/fleet.md for an example.'})
  }

  const known = new Set(['agnes', 'instances', 'rollout', 'ssh', 'waves'])
  for (const key of Object.keys(data)) if (!known.has(key)) problems.add([key], `unknown key (expected one of ${[...known].join(', ')})`)

  const rolloutRaw = (data.rollout ?? {}) as Record<string, unknown>
  const rolloutKeys = new Set(['checkEvery', 'halt', 'parallel', 'pause', 'retractOnFailure', 'soak', 'waveSize'])
  for (const key of Object.keys(rolloutRaw)) if (!rolloutKeys.has(key)) problems.add(['rollout', key], `unknown key (expected one of ${[...rolloutKeys].join(', ')})`)
  const parallel = rolloutRaw.parallel ?? 1
  if (!Number.isInteger(parallel) || (parallel as number) < 1 || (parallel as number) > 64) problems.add(['rollout', 'parallel'], 'must be a whole number from 1 to 64')
  const halt = rolloutRaw.halt ?? 'reject-fleet'
  if (halt !== 'reject-fleet' && halt !== 'stop') problems.add(['rollout', 'halt'], 'must be "reject-fleet" (reject the failed digest on every instance) or "stop"')
  const retractOnFailure = rolloutRaw.retractOnFailure ?? true
  if (typeof retractOnFailure !== 'boolean') problems.add(['rollout', 'retractOnFailure'], 'must be true (the canary retracts a release it rolls back) or false')
  const rollout: RolloutSettings = {
    checkEveryMs: durationAt(rolloutRaw.checkEvery, ['rollout', 'checkEvery'], 30_000, problems),
    halt: halt as HaltPolicy,
    pauseMs: durationAt(rolloutRaw.pause, ['rollout', 'pause'], 0, problems),
    parallel: parallel as number,
    retractOnFailure: retractOnFailure === true,
    soakMs: durationAt(rolloutRaw.soak, ['rollout', 'soak'], 600_000, problems),
  }

  const sshRaw = (data.ssh ?? {}) as Record<string, unknown>
  const ssh: Inventory['ssh'] = {}
  for (const [key, value] of Object.entries(sshRaw)) {
    if (key !== 'knownHosts' && key !== 'identityFile') problems.add(['ssh', key], 'unknown key (expected knownHosts or identityFile)')
    else if (typeof value !== 'string' || !isSafeRemotePath(value)) problems.add(['ssh', key], 'must be an absolute path')
    else ssh[key] = value
  }

  const agnes = data.agnes ?? 'agnes'
  if (typeof agnes !== 'string' || !(agnes === 'agnes' || isSafeRemotePath(agnes))) problems.add(['agnes'], 'must be "agnes" or the absolute path of the agnes command on the hosts')

  const instances: FleetInstance[] = []
  if (!isSeq(doc.get('instances', true)) || !Array.isArray(data.instances) || data.instances.length === 0) {
    problems.add(data.instances === undefined ? [] : ['instances'], 'needs an "instances" list with at least one instance')
  } else {
    const names = new Set<string>()
    for (const [index, raw] of (data.instances as Array<Record<string, unknown>>).entries()) {
      const at = (key?: string) => (key ? ['instances', index, key] : ['instances', index])
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        problems.add(at(), 'must be a mapping with name, target and dir')
        continue
      }

      for (const key of Object.keys(raw)) if (!['dir', 'group', 'name', 'target'].includes(key)) problems.add(at(key), 'unknown key (expected name, target, dir, group)')
      const name = String(raw.name ?? '')
      if (!NAME.test(name)) problems.add(at(raw.name === undefined ? undefined : 'name'), 'needs a name: letters, digits, ".", "_" or "-"')
      else if (names.has(name)) problems.add(at('name'), `the name "${name}" is used twice`)
      names.add(name)
      const target = typeof raw.target === 'string' ? parseTarget(raw.target) : undefined
      if (!target) problems.add(at(raw.target === undefined ? undefined : 'target'), 'needs a target: "local" or "user@host[:port]" (a host name or IPv4 address)')
      const dir = raw.dir
      if (typeof dir !== 'string' || !isSafeRemotePath(dir)) problems.add(at(dir === undefined ? undefined : 'dir'), 'needs dir: the absolute instance directory on that host')
      const group = raw.group ?? ''
      if (group !== '' && (typeof group !== 'string' || !NAME.test(group))) problems.add(at('group'), 'must be "canary" or a wave name')
      if (target && typeof dir === 'string') instances.push({dir, group: String(group), name, target})
    }
  }

  const groups = planGroups(instances, data.waves, rolloutRaw.waveSize, problems)
  if (problems.list.length > 0) {
    throw new InvalidInputError(`the inventory is not valid:\n  ${problems.list.join('\n  ')}`, {hint: 'Fix those fields (docs/fleet.md describes each), then re-run. Nothing was contacted.'})
  }

  return {agnes: agnes as string, file, groups, instances, rollout, ssh}
}

/**
 * The rollout order: the canary group, the named waves (in `waves:` order, else as they first appear), then
 * the instances without a group in waves of `waveSize` (all of them in one wave when it is not set).
 */
export function planGroups(instances: FleetInstance[], wavesRaw: unknown, waveSizeRaw: unknown, problems?: Problems): Inventory['groups'] {
  const named = [...new Set(instances.map((instance) => instance.group).filter((group) => group !== '' && group !== CANARY))]
  let order = named
  if (wavesRaw !== undefined) {
    if (!Array.isArray(wavesRaw) || wavesRaw.some((wave) => typeof wave !== 'string')) {
      problems?.add(['waves'], 'must be a list of wave names')
    } else {
      for (const wave of named) if (!wavesRaw.includes(wave)) problems?.add(['waves'], `does not list the wave "${wave}" that an instance names`)
      order = (wavesRaw as string[]).filter((wave) => named.includes(wave))
    }
  }

  const groups: Inventory['groups'] = []
  const canary = instances.filter((instance) => instance.group === CANARY)
  if (canary.length > 0) groups.push({instances: canary, name: CANARY})
  for (const wave of order) groups.push({instances: instances.filter((instance) => instance.group === wave), name: wave})
  const rest = instances.filter((instance) => instance.group === '')
  if (rest.length === 0) return groups
  const size = waveSizeRaw === undefined ? rest.length : waveSizeOf(waveSizeRaw as string, rest.length)
  if (size === undefined) {
    problems?.add(['rollout', 'waveSize'], 'must be a number of instances (e.g. 5) or a percentage (e.g. 25%)')
    return groups
  }

  for (let start = 0, index = 1; start < rest.length; start += size, index++) {
    groups.push({instances: rest.slice(start, start + size), name: `rest-${index}`})
  }

  return groups
}
