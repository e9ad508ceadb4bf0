import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {createServer} from 'node:tls'
import {describe, expect, it} from 'vitest'

import {DoctorReport, doctorFailure} from '../../../src/lib/doctor/doctor.js'
import {
  Finding,
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
  portsFinding,
  rejectedFinding,
  scheduleFinding,
} from '../../../src/lib/doctor/findings.js'
import {certificateFromFile, openFileLimit, servedCertificate} from '../../../src/lib/doctor/probes.js'
import {isHeldByLiveProcess as lockOwnerAlive} from '../../../src/lib/instance/lock-file.js'
import type {StatusResult as ScheduleStatus} from '../../../src/lib/schedule/schedule.js'
import type {Journal} from '../../../src/lib/deploy/journal.js'

const GIB = 1024 ** 3
const DAY = 24 * 3600 * 1000
const NOW = Date.parse('2026-12-01T12:00:00Z')

describe('doctor: engine, Compose, disk, memory', () => {
  it('fails when the engine does not answer, with how to start it', () => {
    expect(engineFinding({endpoint: '/var/run/docker.sock', version: '27.1.0'})).toMatchObject({message: 'Docker Engine 27.1.0 at /var/run/docker.sock', status: 'ok'})
    const down = engineFinding({endpoint: '/var/run/docker.sock', error: 'connect ENOENT'})
    expect(down).toMatchObject({id: 'engine', status: 'fail'})
    expect(down.fix).toContain('systemctl start docker')
  })

  it('names the Compose flavour and version, and the hint when it is missing', () => {
    expect(composeFinding({argv: ['docker', 'compose'], flavour: 'v2', version: '2.26.1'}).message).toBe('Docker Compose v2 2.26.1 (`docker compose`)')
    expect(composeFinding({error: 'Docker Compose was not found', hint: 'Install the Compose plugin.'})).toMatchObject({fix: 'Install the Compose plugin.', status: 'fail'})
  })

  it('fails below the 2 GiB a pull needs, warns below 10 GiB, and judges by the fullest place', () => {
    expect(diskFinding([{freeBytes: 50 * GIB, path: '/var/lib/docker', what: 'images'}]).status).toBe('ok')
    const low = diskFinding([{freeBytes: 50 * GIB, path: '/var/lib/docker', what: 'images'}, {freeBytes: 5 * GIB, path: '/opt/agnes/.agnes', what: 'backups'}])
    expect(low.status).toBe('warn')
    expect(low.fix).toContain('/opt/agnes/.agnes')
    expect(diskFinding([{freeBytes: 1 * GIB, path: '/var/lib/docker', what: 'images'}]).status).toBe('fail')
  })

  it('warns when the services may use more memory than the engine has, and fails on a size that is not one', () => {
    const limits = (app?: string) => [{fallback: '4g', key: 'AGNES_APP_MEM_LIMIT', value: app}, {fallback: '2g', key: 'AGNES_SCHEDULER_MEM_LIMIT'}]
    expect(memoryFinding({limits: limits(), memTotal: 8 * GIB}).status).toBe('ok')
    const tight = memoryFinding({limits: limits('7g'), memTotal: 8 * GIB})
    expect(tight.status).toBe('warn')
    expect(tight.message).toContain('9.0 GiB')
    expect(memoryFinding({limits: limits('lots'), memTotal: 8 * GIB})).toMatchObject({message: 'AGNES_APP_MEM_LIMIT=lots is not a memory size', status: 'fail'})
    expect(memoryFinding({memTotal: 8 * GIB}).status).toBe('ok')
  })
})

describe('doctor: the open-file limit against AGNES_NOFILE', () => {
  it('fails when the default 65536 is more than the engine grants, and names the value to set', () => {
    const finding = nofileFinding({engineLimit: 20_000, instance: true})
    expect(finding.status).toBe('fail')
    expect(finding.fix).toContain('Set AGNES_NOFILE=20000 in .env')
  })

  it('is fine when .env asks for no more than the engine grants', () => {
    expect(nofileFinding({configured: '20000', engineLimit: 20_000, instance: true}).status).toBe('ok')
    expect(nofileFinding({configured: '65536', engineLimit: 1_048_576, instance: true}).status).toBe('ok')
  })

  it('warns on a host without an instance (a new one would need the setting)', () => {
    const finding = nofileFinding({engineLimit: 20_000, instance: false})
    expect(finding.status).toBe('warn')
    expect(finding.fix).toContain('AGNES_NOFILE=20000')
  })

  it('fails on a value that is not a number, and does not guess when the limit is unknown', () => {
    expect(nofileFinding({configured: 'lots', engineLimit: 20_000, instance: true}).status).toBe('fail')
    expect(nofileFinding({engineWhy: 'the engine is remote', instance: true})).toMatchObject({status: 'ok'})
  })

  it('reads the hard limit from /proc/<pid>/limits', () => {
    const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 20000                files\n'
    expect(openFileLimit(limits)).toBe(20_000)
    expect(openFileLimit('Max open files            unlimited            unlimited            files')).toBe(Number.POSITIVE_INFINITY)
    expect(openFileLimit('nothing')).toBeUndefined()
  })
})

describe('doctor: ports and health', () => {
  it('fails only for a port something else holds', () => {
    expect(portsFinding([{host: '0.0.0.0', inUse: true, ours: true, port: 8000, role: 'app'}]).status).toBe('ok')
    expect(portsFinding([{host: '0.0.0.0', inUse: false, ours: false, port: 8000, role: 'app'}]).status).toBe('ok')
    const taken = portsFinding([{host: '0.0.0.0', inUse: true, ours: false, port: 8000, role: 'app'}])
    expect(taken.status).toBe('fail')
    expect(taken.message).toContain('0.0.0.0:8000 (app) is used by something else')
  })

  it("trusts the app's own word: HTTP 200 with status error is a failure", () => {
    const url = 'http://127.0.0.1:8000'
    expect(healthFinding({appRunning: true, body: {db_schema: 'ok', status: 'ok'}, deployed: true, url}).status).toBe('ok')
    expect(healthFinding({appRunning: true, body: {db_schema: 'ok', status: 'error'}, deployed: true, url}).status).toBe('fail')
    expect(healthFinding({appRunning: true, body: {current: 5, db_schema: 'mismatch', expected: 4, status: 'ok'}, deployed: true, url}).fix).toContain('agnes rollback')
    expect(healthFinding({appRunning: false, deployed: true, url})).toMatchObject({fix: expect.stringContaining('agnes up'), status: 'fail'})
    expect(healthFinding({appRunning: false, deployed: false, url}).status).toBe('warn')
  })
})

describe('doctor: lock, journal, history, rejected', () => {
  const owner = {command: 'upgrade', hostname: 'host', pid: 4242, startedAt: new Date(NOW - 60_000).toISOString()}

  it('warns on a stale lock and on one held for over an hour; a live run is fine', () => {
    expect(lockFinding({alive: false, exists: false, lockFile: '/i/.agnes/lock', now: NOW}).status).toBe('ok')
    const stale = lockFinding({alive: false, exists: true, lockFile: '/i/.agnes/lock', now: NOW, owner})
    expect(stale).toMatchObject({status: 'warn'})
    expect(stale.message).toContain('stale lock: pid 4242 (agnes upgrade)')
    expect(lockFinding({alive: true, exists: true, lockFile: '/i/.agnes/lock', now: NOW, owner}).status).toBe('ok')
    expect(lockFinding({alive: true, exists: true, lockFile: '/i/.agnes/lock', now: NOW + 2 * 3600_000, owner}).status).toBe('warn')
    expect(lockFinding({alive: false, exists: true, lockFile: '/i/.agnes/lock', now: NOW}).message).toContain('damaged')
  })

  it('tells a live lock owner from a dead one by pid, host and start time', () => {
    expect(lockOwnerAlive({command: 'up', hostname: hostname(), pid: process.pid, startedAt: ''})).toBe(true)
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'}).stdout
    expect(lockOwnerAlive({command: 'up', hostname: hostname(), pid: Number(dead), startedAt: ''})).toBe(false)
    expect(lockOwnerAlive({command: 'up', hostname: `${hostname()}-other`, pid: process.pid, startedAt: ''})).toBe(false)
    expect(lockOwnerAlive({command: 'up', hostname: hostname(), pid: process.pid, pidStartTime: 1, startedAt: ''})).toBe(false)
  })

  const journal = (phase: Journal['phase']): Journal => ({
    action: 'upgrade',
    from: {digest: 'sha256:' + 'a'.repeat(64), repository: 'r', version: '2026.11.1'},
    phase,
    pid: 1,
    startedAt: '',
    to: {digest: 'sha256:' + 'b'.repeat(64), repository: 'r', version: '2026.11.2'},
  })

  it('warns on an interrupted switch with `agnes up` as the fix, and fails when the rollback failed', () => {
    expect(journalFinding({runInProgress: false}).status).toBe('ok')
    const pending = journalFinding({journal: journal('switching'), runInProgress: false})
    expect(pending).toMatchObject({fix: expect.stringContaining('agnes up'), status: 'warn'})
    expect(pending.message).toContain('upgrade from 2026.11.1 to 2026.11.2 was interrupted')
    expect(journalFinding({journal: journal('switching'), runInProgress: true}).status).toBe('ok')
    expect(journalFinding({journal: journal('rollback-failed'), runInProgress: false}).status).toBe('fail')
    expect(journalFinding({problem: 'unreadable', runInProgress: false}).status).toBe('warn')
  })

  it('reports the last outcome: rolled back warns, failed fails', () => {
    const entry = (outcome: string) => ({action: 'upgrade' as const, durationMs: 1, outcome, time: '2026-12-01T10:00:00Z', to: {version: '2026.11.2'}})
    expect(lastUpgradeFinding({entries: [], skippedLines: []}).status).toBe('ok')
    expect(lastUpgradeFinding({entries: [entry('rolled-back'), entry('upgraded')], skippedLines: []}).status).toBe('ok')
    expect(lastUpgradeFinding({entries: [entry('rolled-back')], skippedLines: []}).status).toBe('warn')
    expect(lastUpgradeFinding({entries: [entry('failed')], skippedLines: [3]})).toMatchObject({message: expect.stringContaining('lines 3'), status: 'fail'})
  })

  it('lists rejected digests, and warns when the running one is among them', () => {
    const digest = 'sha256:' + 'c'.repeat(64)
    expect(rejectedFinding({rejected: []}).status).toBe('ok')
    expect(rejectedFinding({rejected: [digest]})).toMatchObject({message: expect.stringContaining('sha256:ccccccccccc'), status: 'ok'})
    expect(rejectedFinding({currentDigest: digest, rejected: [digest]}).status).toBe('warn')
  })
})

describe('doctor: schedule and certificate', () => {
  const status = (schedules: ScheduleStatus['schedules']): ScheduleStatus => ({dir: '/i', foreign: [], initSystem: 'cron', installed: schedules.length > 0, project: 'p', schedules})
  const cron = {channel: 'stable', dir: '/i', every: '5m', files: ['/etc/cron.d/agnes-upgrade-p'], initSystem: 'cron' as const, project: 'p'}

  it('warns when no schedule keeps a following instance up to date', () => {
    expect(scheduleFinding({channel: 'stable', pinned: false, status: status([])})).toMatchObject({fix: expect.stringContaining('agnes schedule install'), status: 'warn'})
    expect(scheduleFinding({channel: 'stable', pinned: true, status: status([])}).status).toBe('ok')
    expect(scheduleFinding({channel: 'stable', pinned: false, status: status([cron])}).status).toBe('ok')
    expect(scheduleFinding({channel: 'dev', pinned: false, status: status([cron])}).status).toBe('warn')
    expect(scheduleFinding({channel: 'stable', pinned: false, status: status([{...cron, enabled: 'disabled', initSystem: 'systemd'}])}).status).toBe('warn')
  })

  const cert = (fromDays: number, toDays: number, matchesDomain = true) => ({matchesDomain, subject: 'DNS:agnes.example', validFrom: new Date(NOW + fromDays * DAY).toISOString(), validTo: new Date(NOW + toDays * DAY).toISOString()})

  it('warns within 14 days of expiry and fails once expired, not yet valid or for another name', () => {
    expect(certificateFinding({now: NOW, tls: 'none'}).status).toBe('ok')
    expect(certificateFinding({cert: cert(-30, 60), now: NOW, tls: 'files'}).status).toBe('ok')
    const soon = certificateFinding({cert: cert(-80, 10), now: NOW, tls: 'files'})
    expect(soon.status).toBe('warn')
    expect(soon.message).toContain('expires in 10.0 days')
    expect(certificateFinding({cert: cert(-90, -1), now: NOW, tls: 'acme'}).status).toBe('fail')
    expect(certificateFinding({cert: cert(1, 90), now: NOW, tls: 'files'}).status).toBe('fail')
    expect(certificateFinding({cert: cert(-1, 60, false), domain: 'agnes.example', now: NOW, tls: 'files'}).status).toBe('fail')
    expect(certificateFinding({error: 'ECONNREFUSED', now: NOW, source: 'https://127.0.0.1:443', tls: 'internal'}).status).toBe('fail')
  })

  it("does not warn about Caddy's short-lived internal certificates that are far from their end", () => {
    const hours = (h: number) => new Date(NOW + h * 3600_000).toISOString()
    const internal = {matchesDomain: true, subject: 'DNS:agnes.local', validFrom: hours(-1), validTo: hours(11)}
    expect(certificateFinding({cert: internal, now: NOW, tls: 'internal'}).status).toBe('ok')
    expect(certificateFinding({cert: {...internal, validFrom: hours(-11), validTo: hours(1)}, now: NOW, tls: 'internal'}).status).toBe('warn')
  })
})

describe('doctor: the exit code', () => {
  const report = (findings: Finding[]): DoctorReport => ({dir: '/i', findings, instance: true, summary: {fail: 0, ok: 0, warn: 0}})

  it('is 0 with warnings only, 9 when the engine or Compose failed, 3 for any other failure', () => {
    expect(doctorFailure(report([{id: 'schedule', message: '', status: 'warn'}]))).toBeUndefined()
    const config = doctorFailure(report([{fix: 'Set AGNES_NOFILE=20000 in .env.', id: 'nofile', message: '', status: 'fail'}]))
    expect(config).toMatchObject({exitCode: 3, message: '1 finding failed: nofile'})
    expect(config?.hint).toContain('AGNES_NOFILE=20000')
    expect(config?.result).toBeDefined()
    expect(doctorFailure(report([{id: 'health', message: '', status: 'fail'}, {id: 'engine', message: '', status: 'fail'}]))?.exitCode).toBe(9)
  })

  it('says when the directory is not an instance, and fails when it is one that cannot be read', () => {
    expect(instanceFinding({dir: '/tmp/x', notInstance: true}).status).toBe('warn')
    expect(instanceFinding({dir: '/tmp/x', error: '/tmp/x/.env is missing', hint: 'Re-run `agnes init`.'})).toMatchObject({fix: 'Re-run `agnes init`.', status: 'fail'})
  })
})

describe('doctor: reading certificates', () => {
  it('reads the first certificate of a chain file and the one a TLS server presents', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agnes-doctor-cert-'))
    try {
      const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=agnes.example', '-addext', 'subjectAltName=DNS:agnes.example', '-keyout', join(dir, 'privkey.pem'), '-out', join(dir, 'fullchain.pem')], {encoding: 'utf8'})
      expect(made.status, made.stderr).toBe(0)
      const fromFile = await certificateFromFile(join(dir, 'fullchain.pem'), 'agnes.example')
      expect(fromFile).toMatchObject({matchesDomain: true, subject: 'DNS:agnes.example'})
      expect(Date.parse(fromFile.validTo) - Date.now()).toBeGreaterThan(29 * DAY)
      expect((await certificateFromFile(join(dir, 'fullchain.pem'), 'other.example')).matchesDomain).toBe(false)

      const server = createServer({cert: readFileSync(join(dir, 'fullchain.pem')), key: readFileSync(join(dir, 'privkey.pem'))}, (socket) => socket.end())
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        const port = (server.address() as {port: number}).port
        expect(await servedCertificate(port, 'agnes.example', 3000)).toEqual(fromFile)
      } finally {
        server.close()
      }

      await expect(servedCertificate(1, 'agnes.example', 1000)).rejects.toThrow(/port 1/)
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})
