import {MIN_FREE_DISK, memoryBytes} from '../deploy/host-requirements.js'
import type {HealthBody} from '../deploy/health.js'
import type {HistoryEntry} from '../deploy/history.js'
import type {LockOwner} from '../instance/lock-file.js'
import type {StatusResult as ScheduleStatus} from '../schedule/schedule.js'
import {Journal, isSwitchJournal} from '../deploy/journal.js'

/**
 * What `agnes doctor` decides from the facts it gathered (src/lib/doctor/doctor.ts gathers them). Every
 * decision here is a pure function, so each finding is tested with plain values.
 */

export type FindingStatus = 'ok' | 'warn' | 'fail'

export interface Finding {
  id: string
  status: FindingStatus
  message: string
  /** What to do about it; only on warn and fail. */
  fix?: string
}

const GIB = 1024 ** 3
const DAY_MS = 24 * 3600 * 1000
/** `agnes up` refuses to pull with less than this free under the engine's root (src/lib/deploy/preflight.ts). */
export const LOW_FREE_DISK = 10 * GIB
/** The compose template's default ulimit (templates/docker-compose.yml). */
export const DEFAULT_NOFILE = 65_536
/** A live run that held the lock longer than this is probably hung. */
export const LONG_LOCK_MS = 3600 * 1000

export const NOT_AN_INSTANCE = 'not checked: not an agnes instance'

export function notAnInstance(id: string): Finding {
  return {id, message: NOT_AN_INSTANCE, status: 'warn'}
}

const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`

export function engineFinding(probe: {endpoint: string; version?: string; error?: string}): Finding {
  if (probe.error !== undefined) {
    return {fix: 'Start it (`systemctl start docker`), check DOCKER_HOST, and that this user may use the Docker socket.', id: 'engine', message: `the Docker engine at ${probe.endpoint} does not answer: ${probe.error}`, status: 'fail'}
  }

  return {id: 'engine', message: `Docker Engine ${probe.version ?? '(version unknown)'} at ${probe.endpoint}`, status: 'ok'}
}

export function composeFinding(probe: {flavour?: string; argv?: string[]; version?: string; error?: string; hint?: string}): Finding {
  if (probe.error !== undefined) return {fix: probe.hint ?? 'Install the Compose plugin (docker-compose-plugin) or the docker-compose package.', id: 'compose', message: probe.error, status: 'fail'}
  return {id: 'compose', message: `Docker Compose ${probe.flavour} ${probe.version} (\`${probe.argv?.join(' ')}\`)`, status: 'ok'}
}

/** Free space where images (the engine's root directory) and backups (the instance directory) go. */
export function diskFinding(places: Array<{what: string; path: string; freeBytes: number}>): Finding {
  if (places.length === 0) return {id: 'disk', message: 'not checked: neither the engine\'s root directory nor the instance directory is visible here', status: 'warn'}
  const worst = [...places].sort((a, b) => a.freeBytes - b.freeBytes)[0]
  const summary = places.map((place) => `${gib(place.freeBytes)} free under ${place.path} (${place.what})`).join('; ')
  const fix = `Free space under ${worst.path} (\`docker image prune\`, old logs, old backups in .agnes/backups).`
  if (worst.freeBytes < MIN_FREE_DISK) return {fix, id: 'disk', message: `${summary}: an image pull needs at least 2 GiB`, status: 'fail'}
  if (worst.freeBytes < LOW_FREE_DISK) return {fix, id: 'disk', message: `${summary}: low (an upgrade pulls an image and backs up the state)`, status: 'warn'}
  return {id: 'disk', message: summary, status: 'ok'}
}

/** The engine's memory against the limits the instance's services may use (AGNES_*_MEM_LIMIT in .env). */
export function memoryFinding(probe: {memTotal?: number; limits?: Array<{key: string; value?: string; fallback: string}>}): Finding {
  if (probe.memTotal === undefined) return {id: 'memory', message: 'not checked: the engine did not say how much memory it has', status: 'warn'}
  const total = `the engine has ${gib(probe.memTotal)} of memory`
  if (probe.limits === undefined) return {id: 'memory', message: total, status: 'ok'}
  let sum = 0
  for (const limit of probe.limits) {
    const bytes = memoryBytes(limit.value ?? limit.fallback)
    if (bytes === undefined) return {fix: `Set ${limit.key} in .env to a size such as 4g or 512m.`, id: 'memory', message: `${limit.key}=${limit.value} is not a memory size`, status: 'fail'}
    sum += bytes
  }

  const keys = probe.limits.map((limit) => `${limit.key}=${limit.value ?? limit.fallback}`).join(', ')
  if (sum > probe.memTotal) {
    return {fix: `Lower ${probe.limits.map((limit) => limit.key).join(' and ')} in .env, or give the host more memory.`, id: 'memory', message: `${total}, less than the services may use together (${keys}, ${gib(sum)})`, status: 'warn'}
  }

  return {id: 'memory', message: `${total}; the services may use ${gib(sum)} (${keys})`, status: 'ok'}
}

/**
 * The open-file limit the app asks for (AGNES_NOFILE, default 65536) against what the engine can grant: its
 * own hard limit. Above it the first `up` fails with runc's "setting rlimit type 7" error.
 */
export function nofileFinding(probe: {engineLimit?: number; engineWhy?: string; configured?: string; instance: boolean}): Finding {
  const value = probe.configured?.trim() || undefined
  const wanted = value === undefined ? DEFAULT_NOFILE : Number(value)
  const asked = value === undefined ? `AGNES_NOFILE is not set (default ${DEFAULT_NOFILE})` : `AGNES_NOFILE=${value}`
  if (value !== undefined && !(Number.isSafeInteger(wanted) && wanted > 0)) {
    return {fix: `Set AGNES_NOFILE in .env to a whole number${probe.engineLimit ? ` of at most ${probe.engineLimit}` : ''}.`, id: 'nofile', message: `${asked} is not a number of files`, status: 'fail'}
  }

  if (probe.engineLimit === undefined) return {id: 'nofile', message: `${asked}; not checked against the engine: ${probe.engineWhy ?? 'its limit is unknown'}`, status: 'ok'}
  if (wanted > probe.engineLimit) {
    return {
      fix: `Set AGNES_NOFILE=${probe.engineLimit} in .env${probe.instance ? '' : ' after `agnes init`'} (or raise the engine's LimitNOFILE).`,
      id: 'nofile',
      message: `${asked}, but the Docker engine can grant at most ${probe.engineLimit} open files: ${probe.instance ? 'the app container cannot start' : 'a new instance here cannot start'}`,
      status: probe.instance ? 'fail' : 'warn',
    }
  }

  return {id: 'nofile', message: `${asked}; the engine grants up to ${probe.engineLimit}`, status: 'ok'}
}

export interface PortProbe {
  port: number
  host: string
  /** app, or caddy's http/https. */
  role: string
  /** Our own container that publishes it is running. */
  ours: boolean
  inUse: boolean
}

export function portsFinding(probes: PortProbe[]): Finding {
  const taken = probes.filter((probe) => probe.inUse && !probe.ours)
  const describe = (probe: PortProbe) => `${probe.host}:${probe.port} (${probe.role})`
  if (taken.length > 0) {
    return {
      fix: `Stop what listens there (\`ss -ltnp 'sport = :${taken[0].port}'\` shows it), or choose other ports with \`agnes init --http-port <port>\` (Caddy's: AGNES_PUBLIC_HTTP_PORT/AGNES_PUBLIC_HTTPS_PORT in .env).`,
      id: 'ports',
      message: `${taken.map(describe).join(', ')} ${taken.length === 1 ? 'is' : 'are'} used by something else: \`agnes up\` cannot publish ${taken.length === 1 ? 'it' : 'them'}`,
      status: 'fail',
    }
  }

  return {id: 'ports', message: probes.map((probe) => `${describe(probe)} ${probe.ours ? 'served by this instance' : 'free'}`).join(', '), status: 'ok'}
}

export function healthFinding(probe: {deployed: boolean; appRunning: boolean; body?: HealthBody; url: string}): Finding {
  const {body} = probe
  if (body?.status === 'ok' && body.db_schema === 'ok') return {id: 'health', message: `the app at ${probe.url} is healthy (status ok, db_schema ok)`, status: 'ok'}
  if (body) {
    const schema = body.db_schema === 'mismatch' ? ` (database schema ${body.current}, this version expects ${body.expected})` : ''
    return {
      fix: body.db_schema === 'mismatch' ? 'The database schema is ahead of this version: `agnes rollback` restores the state backup taken before the newer version.' : 'Read `agnes logs app --tail 200`; `agnes up` restarts what should run.',
      id: 'health',
      message: `the app at ${probe.url} answers but is not healthy: status ${body.status}, db_schema ${body.db_schema}${schema}${body.detail ? ` (${body.detail})` : ''}`,
      status: 'fail',
    }
  }

  if (!probe.deployed && !probe.appRunning) return {fix: 'Run `agnes up`.', id: 'health', message: 'nothing is deployed yet', status: 'warn'}
  return {
    fix: probe.appRunning ? 'It may still be booting (that can take minutes); else read `agnes logs app --tail 200`.' : 'Run `agnes up` to start it; `agnes logs app` shows why it stopped.',
    id: 'health',
    message: `${probe.url}/api/health does not answer${probe.appRunning ? ' although the app container runs' : ': no app container runs'}`,
    status: 'fail',
  }
}

export function lockFinding(probe: {exists: boolean; owner?: LockOwner; alive: boolean; now: number; lockFile: string}): Finding {
  if (!probe.exists) return {id: 'lock', message: 'no run holds the instance lock', status: 'ok'}
  const {owner} = probe
  if (!owner) return {fix: `Nothing to do: the next run replaces it (or delete ${probe.lockFile}).`, id: 'lock', message: `${probe.lockFile} is damaged (not a lock agnes wrote)`, status: 'warn'}
  const who = `pid ${owner.pid} (agnes ${owner.command || 'unknown command'}) on ${owner.hostname} since ${owner.startedAt}`
  if (!probe.alive) return {fix: `Nothing to do: the next run takes it over (or delete ${probe.lockFile}).`, id: 'lock', message: `stale lock: ${who} is no longer running`, status: 'warn'}
  const heldMs = probe.now - Date.parse(owner.startedAt)
  if (heldMs > LONG_LOCK_MS) {
    return {fix: `Look at it (\`ps -o pid,etime,args -p ${owner.pid}\`); if it hangs, stop it with \`kill ${owner.pid}\` (it switches back first).`, id: 'lock', message: `held for ${Math.round(heldMs / 60_000)} min by ${who}`, status: 'warn'}
  }

  return {id: 'lock', message: `a run is in progress: ${who}`, status: 'ok'}
}

export function journalFinding(probe: {journal?: Journal; problem?: string; runInProgress: boolean}): Finding {
  const {journal} = probe
  if (probe.problem) return {fix: 'Nothing to do: agnes ignores it and the next switch replaces it (or delete it).', id: 'journal', message: probe.problem, status: 'warn'}
  if (!journal) return {id: 'journal', message: 'no interrupted switch', status: 'ok'}
  const what = isSwitchJournal(journal) ? `the ${journal.action} from ${ref(journal.from)} to ${ref(journal.to)}` : `the ${journal.action} on ${ref(journal.from)}`
  if (probe.runInProgress && journal.phase !== 'rollback-failed') return {id: 'journal', message: `${what} is in progress (${journal.phase})`, status: 'ok'}
  if (journal.phase === 'rollback-failed') {
    return {
      fix: `Find the cause with \`agnes logs app\` (disk, memory, the engine, .env), then run \`agnes up\`: it finishes the journal, back on ${ref(journal.from)}.`,
      id: 'journal',
      message: `${what} failed${journal.reason ? ` (${journal.reason})` : ''} and switching back failed too: a person is needed`,
      status: 'fail',
    }
  }

  return {fix: 'Run `agnes up`: it finishes the interrupted run first (so does the next `upgrade`, `pin` or `rollback`).', id: 'journal', message: `${what} was interrupted (${journal.phase}) and is not finished`, status: 'warn'}
}

function ref(deployment: {digest?: string; version?: string; tag?: string} | undefined): string {
  if (!deployment) return 'unknown'
  return deployment.version ?? deployment.tag ?? (deployment.digest ? `${deployment.digest.slice(0, 19)}…` : 'unknown')
}

export function lastUpgradeFinding(probe: {entries: HistoryEntry[]; skippedLines: number[]}): Finding {
  const last = probe.entries.at(-1)
  const skipped = probe.skippedLines.length > 0 ? `; history lines ${probe.skippedLines.join(', ')} are unreadable and skipped` : ''
  if (!last) return {id: 'last-upgrade', message: `no deployment recorded yet${skipped}`, status: 'ok'}
  const what = `${last.action} ${last.from ? `${ref(last.from)} → ` : ''}${ref(last.to)} ${last.outcome} at ${last.time}${last.reason ? ` (${last.reason})` : ''}`
  if (last.outcome === 'failed') return {fix: 'A person is needed: see `agnes status` and `agnes logs app`, then `agnes up`.', id: 'last-upgrade', message: `${what}${skipped}`, status: 'fail'}
  if (last.outcome === 'rolled-back') return {fix: 'The previous version runs; the failed release is rejected. `agnes history` shows the reason; `agnes upgrade --force` retries it once it is fixed.', id: 'last-upgrade', message: `${what}${skipped}`, status: 'warn'}
  return {id: 'last-upgrade', message: `${what}${skipped}`, status: 'ok'}
}

/** Rejected here, or (deprecatedTag) marked `deprecated-*` by the publisher while it runs (src/lib/deploy/deprecation.ts). */
export function rejectedFinding(probe: {rejected: string[]; currentDigest?: string; deprecatedTag?: string; pinned?: boolean}): Finding {
  if (probe.deprecatedTag && probe.currentDigest) {
    return {
      fix: probe.pinned ? 'Pin another version (`agnes pin <version>`), or follow the channel again (`agnes pin --channel stable`).' : '`agnes upgrade` moves to the channel head, which the publisher moved back.',
      id: 'rejected',
      message: `the running release ${probe.currentDigest.slice(0, 19)}… was marked ${probe.deprecatedTag} by the publisher (it failed on the canary)`,
      status: 'warn',
    }
  }

  if (probe.rejected.length === 0) return {id: 'rejected', message: 'no release was rejected', status: 'ok'}
  const list = probe.rejected.map((digest) => `${digest.slice(0, 19)}…`).join(', ')
  if (probe.currentDigest && probe.rejected.includes(probe.currentDigest)) {
    return {fix: '`agnes rollback` goes back to the last known-good version.', id: 'rejected', message: `the running release ${probe.currentDigest.slice(0, 19)}… was rejected after failing here`, status: 'warn'}
  }

  return {id: 'rejected', message: `${probe.rejected.length} release(s) rejected after failing here, never applied again by a scheduled upgrade: ${list}`, status: 'ok'}
}

export function scheduleFinding(probe: {status?: ScheduleStatus; error?: string; pinned: boolean; channel: string}): Finding {
  if (probe.error !== undefined) return {fix: 'Run `agnes schedule status` to see why.', id: 'schedule', message: `cannot read the upgrade schedule: ${probe.error}`, status: 'warn'}
  const status = probe.status as ScheduleStatus
  const schedule = status.schedules[0]
  if (!schedule) {
    if (probe.pinned) return {id: 'schedule', message: 'no upgrade schedule (the instance is pinned, so none is needed)', status: 'ok'}
    return {fix: `Run \`agnes schedule install\` (it would use ${status.initSystem}).`, id: 'schedule', message: `no upgrade schedule: nothing keeps the instance on the latest ${probe.channel} release`, status: 'warn'}
  }

  const what = `${schedule.initSystem}: agnes upgrade --channel ${schedule.channel} every ${schedule.every}`
  if (schedule.initSystem === 'systemd' && schedule.enabled !== undefined && schedule.enabled !== null && schedule.enabled !== 'enabled') {
    return {fix: 'Run `agnes schedule install` again (it enables the timer).', id: 'schedule', message: `${what}, but the timer is ${schedule.enabled}`, status: 'warn'}
  }

  if (schedule.channel !== probe.channel && !probe.pinned) {
    return {fix: 'Run `agnes schedule install` again to match.', id: 'schedule', message: `${what}, but the instance follows ${probe.channel}`, status: 'warn'}
  }

  return {id: 'schedule', message: what, status: 'ok'}
}

export interface CertificateFacts {
  subject: string
  validFrom: string
  validTo: string
  /** Whether the certificate names the instance's DOMAIN. */
  matchesDomain: boolean
}

/**
 * Certificate expiry. Warns when less than 14 days are left, or less than a fifth of the certificate's
 * lifetime (Caddy's internal certificates live 12 hours and are renewed well before they end).
 */
export function certificateFinding(probe: {tls: string; source?: string; cert?: CertificateFacts; error?: string; domain?: string; now: number}): Finding {
  if (probe.tls === 'none') return {id: 'certificate', message: 'TLS is off (plain HTTP): no certificate to check', status: 'ok'}
  const fix = probe.tls === 'files' ? 'Put a renewed fullchain.pem and privkey.pem in the certificate directory, then run `agnes up`.' : 'Caddy renews it itself: `agnes logs caddy` shows why it does not.'
  if (probe.error !== undefined || !probe.cert) {
    return {fix: probe.tls === 'files' ? fix : 'Run `agnes up` (it starts Caddy); `agnes logs caddy` shows why it does not serve.', id: 'certificate', message: `cannot read the certificate${probe.source ? ` from ${probe.source}` : ''}: ${probe.error ?? 'none'}`, status: 'fail'}
  }

  const {cert} = probe
  const notAfter = Date.parse(cert.validTo)
  const notBefore = Date.parse(cert.validFrom)
  const left = notAfter - probe.now
  const what = `the certificate for ${cert.subject}${probe.source ? ` (${probe.source})` : ''}`
  if (left <= 0) return {fix, id: 'certificate', message: `${what} expired on ${new Date(notAfter).toISOString()}`, status: 'fail'}
  if (probe.now < notBefore) return {fix, id: 'certificate', message: `${what} is not valid before ${new Date(notBefore).toISOString()}`, status: 'fail'}
  if (!cert.matchesDomain && probe.domain) return {fix, id: 'certificate', message: `${what} does not name ${probe.domain}`, status: 'fail'}
  const days = `${(left / DAY_MS).toFixed(1)} days`
  if (left < Math.min(14 * DAY_MS, (notAfter - notBefore) / 5)) return {fix, id: 'certificate', message: `${what} expires in ${days}, on ${new Date(notAfter).toISOString()}`, status: 'warn'}
  return {id: 'certificate', message: `${what} is valid until ${new Date(notAfter).toISOString()} (${days} left)`, status: 'ok'}
}

export function instanceFinding(probe: {dir: string; project?: string; following?: string; error?: string; hint?: string; notInstance?: boolean}): Finding {
  if (probe.notInstance) return {fix: `Run \`agnes init --dir ${probe.dir}\`, or pass --dir with the instance directory. Only the host was checked.`, id: 'instance', message: `${probe.dir} is not an agnes instance (no .agnes/state.json)`, status: 'warn'}
  if (probe.error !== undefined) return {fix: probe.hint ?? 'Re-run `agnes init` on this directory.', id: 'instance', message: probe.error, status: 'fail'}
  return {id: 'instance', message: `${probe.dir}: project ${probe.project}, ${probe.following}`, status: 'ok'}
}
