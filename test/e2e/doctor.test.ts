// agnes doctor against a running stand-in instance: the JSON shape, a healthy instance exits 0, and the
// open-file limit, a stale lock and an interrupted switch each make their own finding fire.
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, destroyInstance, engineOpenFileLimit, journalPath, publishStandard, readInstanceState, runningInstance, singleJson} from './fixtures.js'

const IDS = ['instance', 'engine', 'compose', 'disk', 'memory', 'nofile', 'ports', 'health', 'lock', 'journal', 'last-upgrade', 'rejected', 'schedule', 'certificate']

describe('agnes doctor', () => {
  let published: Published
  let instance: TestInstance
  let scheduleRoot: string

  const doctor = async (dir: string) => {
    const result = await runAgnes(['doctor', '--json', '--dir', dir, '--schedule-root', scheduleRoot], {timeoutMs: 60_000})
    const document = singleJson(result)
    const report = document.ok ? document.result : document.error && document.result
    const finding = (id: string) => report.findings.find((entry: {id: string}) => entry.id === id)
    return {document, finding, report, result}
  }

  beforeAll(async () => {
    published = await publishStandard('doctor')
    instance = await runningInstance('doctor', published.repository)
    scheduleRoot = mkdtempSync(join(tmpdir(), 'agnes-doctor-root-'))
  })

  afterAll(() => {
    destroyInstance(instance)
    rmSync(scheduleRoot, {force: true, recursive: true})
  })

  it('gives every finding as {id, status, message, fix?} and exits 0 on a healthy instance', async () => {
    const {document, finding, report, result} = await doctor(instance.dir)
    expect(result.exitCode, result.stdout).toBe(0)
    expect(document.ok).toBe(true)
    expect(report).toMatchObject({dir: instance.dir, instance: true})
    expect(report.findings.map((entry: {id: string}) => entry.id)).toEqual(IDS)
    for (const entry of report.findings) {
      expect(Object.keys(entry).sort()).toEqual(entry.fix === undefined ? ['id', 'message', 'status'] : ['fix', 'id', 'message', 'status'])
      expect(['ok', 'warn', 'fail']).toContain(entry.status)
      expect(entry.status === 'ok' || typeof entry.fix === 'string' || entry.message.startsWith('not checked')).toBe(true)
    }

    expect(report.summary.fail).toBe(0)
    // The fixture's .env sets AGNES_NOFILE to what this engine grants.
    expect(finding('nofile')).toMatchObject({message: `AGNES_NOFILE=${engineOpenFileLimit()}; the engine grants up to ${engineOpenFileLimit()}`, status: 'ok'})
    expect(finding('health')).toMatchObject({status: 'ok'})
    expect(finding('ports')).toMatchObject({message: expect.stringContaining(`:${instance.port} (app) served by this instance`), status: 'ok'})
    expect(finding('engine').status).toBe('ok')
    expect(finding('compose').message).toMatch(/^Docker Compose v[12] /)
    expect(finding('lock').status).toBe('ok')
    expect(finding('journal').status).toBe('ok')
    expect(finding('schedule')).toMatchObject({fix: expect.stringContaining('agnes schedule install'), status: 'warn'})
    expect(finding('certificate')).toMatchObject({status: 'ok'})
    expect(result.durationMs).toBeLessThan(20_000)

    const human = await runAgnes(['doctor', '--dir', instance.dir, '--schedule-root', scheduleRoot])
    expect(human.exitCode).toBe(0)
    expect(human.stdout).toMatch(/^ok {4}health/m)
    expect(human.stdout).toContain('0 failed')
  })

  it('without AGNES_NOFILE in .env, names the value this engine can grant (exit 3 when it is below 65536)', async () => {
    const envPath = join(instance.dir, '.env')
    const before = readFileSync(envPath, 'utf8')
    writeFileSync(envPath, before.replace(/^AGNES_NOFILE=.*\n/m, ''), {mode: 0o600})
    try {
      const {document, finding, result} = await doctor(instance.dir)
      const limit = engineOpenFileLimit()
      if (limit < 65_536) {
        expect(result.exitCode).toBe(3)
        expect(document.error).toMatchObject({code: 'E_INVALID', exitCode: 3, message: '1 finding failed: nofile'})
        expect(finding('nofile')).toMatchObject({fix: expect.stringContaining(`Set AGNES_NOFILE=${limit} in .env`), status: 'fail'})
      } else {
        expect(result.exitCode).toBe(0)
        expect(finding('nofile').status).toBe('ok')
      }
    } finally {
      writeFileSync(envPath, before, {mode: 0o600})
    }
  })

  it('a stale lock makes the lock finding fire, and the next run would take it over', async () => {
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'}).stdout)
    const lockFile = join(instance.dir, '.agnes', 'lock')
    writeFileSync(lockFile, JSON.stringify({command: 'upgrade', hostname: hostname(), pid: dead, startedAt: new Date().toISOString()}) + '\n', {mode: 0o600})
    try {
      const {finding, result} = await doctor(instance.dir)
      expect(result.exitCode).toBe(0)
      expect(finding('lock')).toMatchObject({fix: expect.stringContaining('the next run takes it over'), message: expect.stringContaining(`stale lock: pid ${dead} (agnes upgrade)`), status: 'warn'})
    } finally {
      rmSync(lockFile, {force: true})
    }
  })

  it('an interrupted switch warns with `agnes up` as the fix; a failed rollback fails (exit 3)', async () => {
    const state = readInstanceState(instance)
    const journal = (phase: string) => ({
      action: 'upgrade',
      from: {digest: state.current.digest, repository: instance.repository, version: state.current.version},
      phase,
      pid: 1,
      startedAt: new Date().toISOString(),
      to: {digest: `sha256:${'b'.repeat(64)}`, repository: instance.repository, tag: 'stable'},
    })
    mkdirSync(join(instance.dir, '.agnes'), {recursive: true})
    try {
      writeFileSync(journalPath(instance), JSON.stringify(journal('switching')), {mode: 0o600})
      const pending = await doctor(instance.dir)
      expect(pending.result.exitCode).toBe(0)
      expect(pending.finding('journal')).toMatchObject({fix: expect.stringContaining('Run `agnes up`'), message: expect.stringContaining('was interrupted (switching)'), status: 'warn'})

      writeFileSync(journalPath(instance), JSON.stringify(journal('rollback-failed')), {mode: 0o600})
      const failed = await doctor(instance.dir)
      expect(failed.result.exitCode).toBe(3)
      expect(failed.document.ok).toBe(false)
      expect(failed.finding('journal')).toMatchObject({message: expect.stringContaining('a person is needed'), status: 'fail'})
    } finally {
      rmSync(journalPath(instance), {force: true})
    }
  })

  it('in a directory that is not an instance checks the host only and exits 0', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'agnes-doctor-empty-'))
    try {
      const {finding, report, result} = await doctor(empty)
      expect(result.exitCode).toBe(0)
      expect(report.instance).toBe(false)
      expect(finding('instance')).toMatchObject({message: expect.stringContaining('is not an agnes instance'), status: 'warn'})
      expect(finding('health')).toEqual({id: 'health', message: 'not checked: not an agnes instance', status: 'warn'})
      expect(finding('engine').status).toBe('ok')
      if (engineOpenFileLimit() < 65_536) expect(finding('nofile')).toMatchObject({fix: expect.stringContaining(`AGNES_NOFILE=${engineOpenFileLimit()}`), status: 'warn'})
    } finally {
      rmSync(empty, {force: true, recursive: true})
    }
  })
})
