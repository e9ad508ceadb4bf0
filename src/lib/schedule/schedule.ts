import {existsSync} from 'node:fs'
import {access, constants, readFile, realpath, rm, stat} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'
import {isSea} from 'node:sea'

import {CommandRunner, execaRunner} from '../docker/compose.js'
import {ConflictError, InvalidInputError} from '../errors.js'
import {writeFileAtomic} from '../fs-atomic.js'
import {Channel, loadInstance} from '../instance/state.js'
import {Reporter} from '../ui/reporter.js'
import {
  CRON_DIR,
  InitSystem,
  SYSTEMD_UNIT_DIR,
  ScheduleMarker,
  ScheduleSpec,
  assertSafeWord,
  parseEvery,
  readMarker,
  renderCron,
  renderService,
  renderTimer,
  scheduleNames,
  upgradeArgv,
} from './render.js'

/**
 * `agnes schedule install|remove|status`. Files are written under `root` (default `/`; tests use a temporary
 * directory); what they refer to (the agnes executable, the instance, the webhook file) is on this host as given.
 */

export interface ScheduleContext {
  dir: string
  root: string
  reporter: Reporter
  run?: CommandRunner
}

export interface InstallOptions extends ScheduleContext {
  /** Detected from `<root>/run/systemd/system` when not given. */
  initSystem?: InitSystem
  every: string
  channel?: Channel
  /** The agnes executable, from resolveAgnesCommand. */
  agnes: string[]
  alertWebhookFile?: string
}

export type FileAction = 'created' | 'updated' | 'unchanged'

export interface InstallResult {
  dir: string
  project: string
  initSystem: InitSystem
  every: string
  channel: string
  /** The upgrade command the schedule runs, as an argument list. */
  command: string[]
  files: Array<{path: string; action: FileAction}>
  /** Files of the other init system that an earlier install wrote, removed so only one schedule runs. */
  removed: string[]
  /** systemd: whether `systemctl enable` succeeded (null with cron, which reads /etc/cron.d by itself). */
  enabled: boolean | null
  /** systemd: the optional 0600 environment file the service reads (AGNES_ALERT_WEBHOOK …). */
  envFile: string | null
  /** cron: where each run's JSON result is appended. */
  log: string | null
  alertWebhookFile: string | null
}

export interface RemoveResult {
  dir: string
  project: string
  removed: string[]
  /** Files at the schedule's paths that agnes did not write: left alone. */
  kept: string[]
}

export interface InstalledSchedule extends ScheduleMarker {
  initSystem: InitSystem
  files: string[]
  /** systemd: `systemctl is-enabled` of the timer, null when systemctl does not answer. */
  enabled?: string | null
  /** systemd on the live root: `systemctl is-active` of the timer. */
  active?: string | null
}

export interface StatusResult {
  dir: string
  project: string
  installed: boolean
  /** What `install` would use here. */
  initSystem: InitSystem
  schedules: InstalledSchedule[]
  /** Files at the schedule's paths that agnes did not write. */
  foreign: string[]
}

export function detectInitSystem(root: string): InitSystem {
  return existsSync(join(root, 'run', 'systemd', 'system')) ? 'systemd' : 'cron'
}

/**
 * The agnes executable a schedule runs: `--agnes-path`, or node plus the running script (resolved), because
 * cron's PATH may not reach the node that `#!/usr/bin/env node` needs.
 */
export async function resolveAgnesCommand(options: {agnesPath?: string; script: string; node: string}): Promise<string[]> {
  if (options.agnesPath !== undefined) {
    const path = resolve(options.agnesPath)
    try {
      await access(path, constants.X_OK)
    } catch {
      throw new InvalidInputError(`--agnes-path: ${path} is not an executable file`, {hint: 'Pass the absolute path of the agnes executable, e.g. /usr/local/bin/agnes.'})
    }

    return [path]
  }

  // The single executable (scripts/package-sea.sh) is node and agnes in one file; its argv[1] is itself again.
  if (isSea()) return [await realpath(options.node)]
  return [options.node, await realpath(options.script)]
}

interface PlannedFile {
  path: string
  content: string
}

function unitPaths(root: string, project: string): {service: string; timer: string} {
  const names = scheduleNames(project)
  return {service: join(root, SYSTEMD_UNIT_DIR, names.service), timer: join(root, SYSTEMD_UNIT_DIR, names.timer)}
}

function cronPath(root: string, project: string): string {
  return join(root, CRON_DIR, scheduleNames(project).cronFile)
}

function pathsOf(initSystem: InitSystem, root: string, project: string): string[] {
  if (initSystem === 'cron') return [cronPath(root, project)]
  const units = unitPaths(root, project)
  return [units.service, units.timer]
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** The files of one init system at their paths: agnes's own for this project, and anything else found there. */
async function survey(initSystem: InitSystem, root: string, project: string): Promise<{ours: Array<{path: string; marker: ScheduleMarker; text: string}>; foreign: string[]}> {
  const ours: Array<{path: string; marker: ScheduleMarker; text: string}> = []
  const foreign: string[] = []
  for (const path of pathsOf(initSystem, root, project)) {
    const text = await readIfExists(path)
    if (text === undefined) continue
    const marker = readMarker(text)
    if (marker?.project === project) ours.push({marker, path, text})
    else foreign.push(path)
  }

  return {foreign, ours}
}

/** systemctl on the live system when root is `/`, else offline on the root directory (`systemctl --root`). */
async function systemctl(context: ScheduleContext, args: string[]): Promise<{ok: boolean; output: string}> {
  const run = context.run ?? execaRunner
  const fullArgs = context.root === '/' ? args : ['--root', context.root, ...args]
  const result = await run('systemctl', fullArgs, {timeoutMs: 60_000})
  return {ok: result.exitCode === 0, output: (result.stdout || result.stderr).trim()}
}

async function assertPrivateFile(path: string, what: string): Promise<void> {
  const info = await stat(path)
  if (!info.isFile()) throw new InvalidInputError(`${what} ${path} is not a file`, {hint: 'Name a file that holds only the webhook URL, mode 0600.'})
  if ((info.mode & 0o077) !== 0) {
    throw new InvalidInputError(`${what} ${path} can be read by other users, and it holds a credential`, {hint: `chmod 600 ${path}, then re-run.`})
  }
}

/** The nearest existing directory above a path must be writable; else the plan stops before it changes anything. */
async function assertWritable(path: string): Promise<void> {
  let dir = dirname(path)
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir)
  try {
    await access(dir, constants.W_OK)
  } catch {
    throw new InvalidInputError(`cannot write ${path}: ${dir} is not writable for this user`, {hint: 'Run it as root (sudo agnes schedule …), or pass --root with a directory you can write.'})
  }
}

export async function installSchedule(options: InstallOptions): Promise<InstallResult> {
  const {paths, state} = await loadInstance(options.dir)
  const project = state.project
  const names = scheduleNames(project)
  const initSystem = options.initSystem ?? detectInitSystem(options.root)
  const every = parseEvery(options.every)
  const channel = options.channel ?? state.channel

  // The whole plan is checked before anything is written.
  assertSafeWord(paths.dir, 'The instance directory')
  for (const word of options.agnes) assertSafeWord(word, 'The agnes path')
  let alertWebhookFile: string | undefined
  if (options.alertWebhookFile !== undefined) {
    alertWebhookFile = resolve(options.alertWebhookFile)
    assertSafeWord(alertWebhookFile, '--alert-webhook-file')
    if (!existsSync(alertWebhookFile)) throw new InvalidInputError(`--alert-webhook-file: ${alertWebhookFile} does not exist`, {hint: 'Write the webhook URL into that file (mode 0600) first.'})
    await assertPrivateFile(alertWebhookFile, '--alert-webhook-file')
  }

  const envFile = join(options.root, names.envFile)
  if (initSystem === 'systemd' && existsSync(envFile)) await assertPrivateFile(envFile, 'The service environment file')

  const spec: ScheduleSpec = {agnes: options.agnes, alertWebhookFile, channel, dir: paths.dir, every: every.text, project}
  const planned: PlannedFile[] =
    initSystem === 'cron'
      ? [{content: renderCron(spec), path: cronPath(options.root, project)}]
      : [
          {content: renderService(spec), path: unitPaths(options.root, project).service},
          {content: renderTimer(spec), path: unitPaths(options.root, project).timer},
        ]
  const {foreign} = await survey(initSystem, options.root, project)
  if (foreign.length > 0) {
    throw new ConflictError(`${foreign.join(', ')} exists and was not written by agnes`, {hint: 'Move it away (or remove your own schedule for this instance), then re-run `agnes schedule install`.'})
  }

  const otherSystem: InitSystem = initSystem === 'cron' ? 'systemd' : 'cron'
  for (const path of [...planned.map((file) => file.path), ...(await survey(otherSystem, options.root, project)).ours.map((file) => file.path)]) await assertWritable(path)
  const removed = await removeOwnFiles(options, otherSystem, project)

  const files: InstallResult['files'] = []
  for (const file of planned) {
    const before = await readIfExists(file.path)
    const action: FileAction = before === undefined ? 'created' : before === file.content ? 'unchanged' : 'updated'
    // cron refuses files that others can write; units are world-readable like every unit.
    if (action !== 'unchanged') await writeFileAtomic(file.path, file.content, 0o644)
    files.push({action, path: file.path})
  }

  let enabled: boolean | null = null
  if (initSystem === 'systemd') {
    const changed = files.some((file) => file.action !== 'unchanged')
    const live = options.root === '/'
    const steps = live ? [...(changed ? [['daemon-reload']] : []), ['enable', '--now', names.timer]] : [['enable', names.timer]]
    enabled = true
    for (const step of steps) {
      const outcome = await systemctl(options, step)
      if (!outcome.ok) {
        options.reporter.warn(`\`systemctl ${step.join(' ')}\` failed (${outcome.output || 'no output'}); the units are written: run it once systemd answers.`)
        enabled = false
        break
      }
    }
  }

  if (state.pin) options.reporter.warn(`The instance is pinned to ${state.pin}: each scheduled run leaves it alone until \`agnes pin --channel ${channel}\`.`)

  return {
    alertWebhookFile: alertWebhookFile ?? null,
    channel,
    command: upgradeArgv(spec, initSystem),
    dir: paths.dir,
    enabled,
    envFile: initSystem === 'systemd' ? names.envFile : null,
    every: every.text,
    files,
    initSystem,
    log: initSystem === 'cron' ? names.cronLog : null,
    project,
    removed,
  }
}

/** Removes this project's schedule files of one init system that agnes wrote; systemd timers are disabled first. */
async function removeOwnFiles(context: ScheduleContext, initSystem: InitSystem, project: string): Promise<string[]> {
  const {ours} = await survey(initSystem, context.root, project)
  if (ours.length === 0) return []
  for (const file of ours) await assertWritable(file.path)
  const names = scheduleNames(project)
  const live = context.root === '/'
  if (initSystem === 'systemd' && ours.some((file) => file.path.endsWith('.timer'))) {
    const outcome = await systemctl(context, live ? ['disable', '--now', names.timer] : ['disable', names.timer])
    if (!outcome.ok) context.reporter.warn(`\`systemctl disable ${names.timer}\` failed (${outcome.output || 'no output'}); the unit files are removed anyway.`)
  }

  for (const file of ours) await rm(file.path, {force: true})
  if (initSystem === 'systemd' && live) {
    const outcome = await systemctl(context, ['daemon-reload'])
    if (!outcome.ok) context.reporter.warn(`\`systemctl daemon-reload\` failed (${outcome.output || 'no output'}).`)
  }

  return ours.map((file) => file.path)
}

export async function removeSchedule(context: ScheduleContext): Promise<RemoveResult> {
  const {paths, state} = await loadInstance(context.dir)
  const project = state.project
  const removed = [...(await removeOwnFiles(context, 'systemd', project)), ...(await removeOwnFiles(context, 'cron', project))]
  const kept = [...(await survey('systemd', context.root, project)).foreign, ...(await survey('cron', context.root, project)).foreign]
  for (const path of kept) context.reporter.warn(`${path} was not written by agnes: left alone.`)
  return {dir: paths.dir, kept, project, removed}
}

export async function scheduleStatus(context: ScheduleContext): Promise<StatusResult> {
  const {paths, state} = await loadInstance(context.dir)
  const project = state.project
  const names = scheduleNames(project)
  const schedules: InstalledSchedule[] = []
  const foreign: string[] = []
  for (const initSystem of ['systemd', 'cron'] as const) {
    const found = await survey(initSystem, context.root, project)
    foreign.push(...found.foreign)
    if (found.ours.length === 0) continue
    const schedule: InstalledSchedule = {...found.ours[0].marker, files: found.ours.map((file) => file.path), initSystem}
    if (initSystem === 'systemd') {
      const enabled = await systemctl(context, ['is-enabled', names.timer])
      schedule.enabled = /^[a-z-]+$/.test(enabled.output) ? enabled.output : null
      if (context.root === '/') {
        const active = await systemctl(context, ['is-active', names.timer])
        schedule.active = /^[a-z-]+$/.test(active.output) ? active.output : null
      }
    }

    if (schedule.channel !== state.channel && !state.pin) {
      context.reporter.warn(`The schedule follows ${schedule.channel}, the instance ${state.channel}: re-run \`agnes schedule install\` to match.`)
    }

    schedules.push(schedule)
  }

  return {dir: paths.dir, foreign, initSystem: detectInitSystem(context.root), installed: schedules.length > 0, project, schedules}
}
