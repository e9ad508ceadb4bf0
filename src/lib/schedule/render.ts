import {InvalidInputError} from '../errors.js'

/**
 * The text of the upgrade schedule: a systemd service + timer, or one /etc/cron.d file. Pure functions, so
 * the exact bytes written can be tested without a root directory.
 */

export type InitSystem = 'systemd' | 'cron'

export interface Interval {
  /** As given, e.g. `5m`. */
  text: string
  unit: 'm' | 'h'
  count: number
}

/** Minutes that divide an hour and hours that divide a day, so cron and systemd fire on the same cadence. */
const MINUTE_COUNTS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30]
const HOUR_COUNTS = [1, 2, 3, 4, 6, 8, 12, 24]

export function parseEvery(text: string): Interval {
  const match = /^(\d+)(m|h)$/.exec(text.trim())
  const count = match ? Number(match[1]) : Number.NaN
  const unit = match?.[2] as Interval['unit'] | undefined
  if (unit === 'm' && MINUTE_COUNTS.includes(count)) return {count, text: `${count}m`, unit}
  if (unit === 'h' && HOUR_COUNTS.includes(count)) return {count, text: `${count}h`, unit}
  throw new InvalidInputError(`--every: "${text}" is not a schedule interval agnes can write`, {
    hint: `Use minutes that divide an hour (${MINUTE_COUNTS.join(', ')}: e.g. 5m) or hours that divide a day (${HOUR_COUNTS.join(', ')}: e.g. 1h).`,
  })
}

export interface ScheduleNames {
  service: string
  timer: string
  /** A file name in /etc/cron.d; cron ignores names with a dot, so there is none. */
  cronFile: string
  /** Optional environment for the service (AGNES_ALERT_WEBHOOK …), mode 0600, written by the operator. */
  envFile: string
  cronLog: string
}

/** Per Compose project, so two instances on one host get separate schedules. */
export function scheduleNames(project: string): ScheduleNames {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(project)) throw new Error(`unsafe compose project name: ${project}`)
  return {
    cronFile: `agnes-upgrade-${project}`,
    cronLog: `/var/log/agnes-upgrade-${project}.log`,
    envFile: `/etc/agnes/${project}.env`,
    service: `agnes-upgrade-${project}.service`,
    timer: `agnes-upgrade-${project}.timer`,
  }
}

export const SYSTEMD_UNIT_DIR = '/etc/systemd/system'
export const CRON_DIR = '/etc/cron.d'

/** What the files record about themselves, so `status` can read it back and `remove` knows they are ours. */
export interface ScheduleMarker {
  project: string
  dir: string
  channel: string
  every: string
}

export interface ScheduleSpec extends ScheduleMarker {
  /** The agnes executable: [node, script] or one executable; absolute paths. */
  agnes: string[]
  alertWebhookFile?: string
}

const MANAGED_LINE = '# Managed by agnes: written by `agnes schedule install`, removed by `agnes schedule remove`.'
const MARKER_PREFIX = '# agnes-schedule: '

/**
 * Characters that need no escaping in a systemd unit (no `%` specifiers, `$` expansion, quotes, `;`
 * separators or backslashes) nor in a single-quoted shell word of a cron line (no `'`, no `%` newline).
 */
const SAFE_WORD = /^[A-Za-z0-9 _./@+,:=~-]+$/

export function assertSafeWord(value: string, what: string): void {
  if (!SAFE_WORD.test(value)) {
    throw new InvalidInputError(`${what} "${value}" has characters that a systemd unit or a cron line cannot carry safely`, {
      hint: 'Use a path made of letters, digits, spaces and _ . / @ + , : = ~ -.',
    })
  }
}

export function upgradeArgv(spec: ScheduleSpec, initSystem: InitSystem): string[] {
  const argv = [...spec.agnes, 'upgrade', '--dir', spec.dir, '--channel', spec.channel, '--quiet']
  // cron appends to a log file: one JSON document a run reads best there; the journal gets the human line.
  if (initSystem === 'cron') argv.push('--json')
  if (spec.alertWebhookFile) argv.push('--alert-webhook-file', spec.alertWebhookFile)
  return argv
}

function markerLines(spec: ScheduleSpec): string[] {
  const marker: ScheduleMarker = {channel: spec.channel, dir: spec.dir, every: spec.every, project: spec.project}
  return [MANAGED_LINE, MARKER_PREFIX + JSON.stringify(marker)]
}

/** The marker of a file agnes wrote, or undefined for any other file. */
export function readMarker(text: string): ScheduleMarker | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(MARKER_PREFIX))
  if (!line) return undefined
  try {
    const marker = JSON.parse(line.slice(MARKER_PREFIX.length)) as ScheduleMarker
    return typeof marker.project === 'string' ? marker : undefined
  } catch {
    return undefined
  }
}

function systemdWord(word: string): string {
  return word.includes(' ') ? `"${word}"` : word
}

function onCalendar(every: Interval): string {
  if (every.unit === 'h') return every.count === 24 ? '*-*-* 00:00:00' : `*-*-* 00/${every.count}:00:00`
  return every.count === 1 ? '*-*-* *:*:00' : `*-*-* *:00/${every.count}:00`
}

export function renderService(spec: ScheduleSpec): string {
  const names = scheduleNames(spec.project)
  return [
    ...markerLines(spec),
    '[Unit]',
    `Description=agnes upgrade of ${spec.dir} (project ${spec.project})`,
    'Wants=network-online.target',
    'After=docker.service network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    '# Optional settings such as AGNES_ALERT_WEBHOOK, one KEY=value a line; keep the file mode 0600.',
    `EnvironmentFile=-${names.envFile}`,
    `ExecStart=${upgradeArgv(spec, 'systemd').map(systemdWord).join(' ')}`,
    '# 75: the lock is held or the upgrade was deferred; the next tick tries again.',
    'SuccessExitStatus=75',
    '',
  ].join('\n')
}

export function renderTimer(spec: ScheduleSpec): string {
  const every = parseEvery(spec.every)
  return [
    ...markerLines(spec),
    '[Unit]',
    `Description=agnes upgrade of ${spec.dir} (project ${spec.project}) every ${every.text}`,
    '',
    '[Timer]',
    `OnCalendar=${onCalendar(every)}`,
    'AccuracySec=1s',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n')
}

function cronFields(every: Interval): string {
  if (every.unit === 'h') return every.count === 1 ? '0 * * * *' : every.count === 24 ? '0 0 * * *' : `0 */${every.count} * * *`
  return every.count === 1 ? '* * * * *' : `*/${every.count} * * * *`
}

export function renderCron(spec: ScheduleSpec): string {
  const names = scheduleNames(spec.project)
  const command = upgradeArgv(spec, 'cron')
    .map((word) => `'${word}'`)
    .join(' ')
  return [
    ...markerLines(spec),
    '# No secret belongs here: the alert webhook comes from the 0600 file named by --alert-webhook-file.',
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `${cronFields(parseEvery(spec.every))} root ${command} >>'${names.cronLog}' 2>&1`,
    '',
  ].join('\n')
}
