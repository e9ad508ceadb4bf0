// agnes schedule install|remove|status through the built CLI, against a temporary root directory: the exact
// files, `systemd-analyze verify` on the units, systemctl working offline on the root, the cron line run by
// sh with a stand-in agnes to prove its quoting, and no secret in any file.
import {spawnSync} from 'node:child_process'
import {chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {readEnvFile} from '../e2e/fixtures.js'
import {binPath, runAgnes} from '../helpers/run-cli.js'

const WEBHOOK = 'https://hooks.slack.com/services/T000/B000/schedule-webhook-secret-71ac'
let work: string

interface Instance {
  dir: string
  project: string
  secrets: string[]
}

async function newInstance(name: string): Promise<Instance> {
  const dir = join(work, name)
  const init = await runAgnes(['init', '--non-interactive', '--json', '--dir', dir, '--admin-email', 'admin@example.com'])
  if (init.exitCode !== 0) throw new Error(`init failed: ${init.stdout}\n${init.stderr}`)
  const env = readEnvFile(join(dir, '.env'))
  const project = JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8')).project as string
  return {dir, project, secrets: [env.JWT_SECRET_KEY, env.SESSION_SECRET, env.SCHEDULER_API_TOKEN, env.AGNES_VAULT_KEY]}
}

function newRoot(name: string, systemd: boolean): string {
  const root = join(work, `root-${name}`)
  mkdirSync(root, {recursive: true})
  if (systemd) mkdirSync(join(root, 'run', 'systemd', 'system'), {recursive: true})
  return root
}

function filesUnder(root: string): string[] {
  const out: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, {withFileTypes: true})) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else out.push(entry.isSymbolicLink() ? `${path.slice(root.length)} -> ${readlinkSync(path)}` : path.slice(root.length))
    }
  }

  walk(root)
  return out.sort()
}

/** Every file under the root with its content, symlinks with their target. */
function snapshot(root: string): string[][] {
  return filesUnder(root).map((entry) => (entry.includes(' -> ') ? [entry] : [entry, readFileSync(join(root, entry), 'utf8')]))
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'agnes-schedule-'))
})

afterAll(() => {
  rmSync(work, {force: true, recursive: true})
})

describe('agnes schedule with systemd', () => {
  it('writes a service and a timer that systemd-analyze accepts, enables the timer, and carries no secret', async () => {
    const instance = await newInstance('sd one')
    const root = newRoot('sd-one', true)
    const install = await runAgnes(['schedule', 'install', '--json', '--dir', instance.dir, '--root', root])
    expect(install.exitCode, install.stderr).toBe(0)
    const result = install.json.result
    const service = join(root, 'etc/systemd/system', `agnes-upgrade-${instance.project}.service`)
    const timer = join(root, 'etc/systemd/system', `agnes-upgrade-${instance.project}.timer`)
    expect(result).toMatchObject({channel: 'stable', enabled: true, envFile: `/etc/agnes/${instance.project}.env`, every: '5m', initSystem: 'systemd', project: instance.project})
    expect(result.files).toEqual([
      {action: 'created', path: service},
      {action: 'created', path: timer},
    ])
    expect(result.command).toEqual([process.execPath, realpathSync(binPath), 'upgrade', '--dir', instance.dir, '--channel', 'stable', '--quiet'])

    const serviceText = readFileSync(service, 'utf8')
    expect(serviceText).toContain(`ExecStart=${process.execPath} ${realpathSync(binPath)} upgrade --dir "${instance.dir}" --channel stable --quiet\n`)
    expect(serviceText).toContain('\nSuccessExitStatus=75\n')
    expect(serviceText).toContain('\nType=oneshot\n')
    expect(serviceText).toContain(`\nEnvironmentFile=-/etc/agnes/${instance.project}.env\n`)
    const timerText = readFileSync(timer, 'utf8')
    expect(timerText).toContain('\nOnCalendar=*-*-* *:00/5:00\n')
    expect(timerText).toContain('\nWantedBy=timers.target\n')

    const verify = spawnSync('systemd-analyze', ['verify', service, timer], {encoding: 'utf8'})
    expect(verify.error, 'systemd-analyze must be installed (Debian package systemd)').toBeUndefined()
    expect(verify.stderr).toBe('')
    expect(verify.status).toBe(0)
    const calendar = spawnSync('systemd-analyze', ['calendar', '*-*-* *:00/5:00'], {encoding: 'utf8'})
    expect(calendar.status, calendar.stderr).toBe(0)

    // Enabled offline on the root, as `systemctl enable` would on the host.
    expect(lstatSync(join(root, 'etc/systemd/system/timers.target.wants', `agnes-upgrade-${instance.project}.timer`)).isSymbolicLink()).toBe(true)
    for (const secret of instance.secrets) {
      expect(serviceText + timerText + install.stdout + install.stderr).not.toContain(secret)
    }
  })

  it('is idempotent, reports the installed schedule, and remove deletes only what it wrote', async () => {
    const instance = await newInstance('sd-two')
    const root = newRoot('sd-two', true)
    const foreign = join(root, 'etc/systemd/system/my-own.service')
    mkdirSync(join(root, 'etc/systemd/system'), {recursive: true})
    writeFileSync(foreign, '[Service]\nExecStart=/bin/true\n')

    const first = await runAgnes(['schedule', 'install', '--json', '--dir', instance.dir, '--root', root, '--every', '15m', '--channel', 'dev'])
    expect(first.exitCode, first.stderr).toBe(0)
    const before = snapshot(root)
    const second = await runAgnes(['schedule', 'install', '--json', '--dir', instance.dir, '--root', root, '--every', '15m', '--channel', 'dev'])
    expect(second.exitCode, second.stderr).toBe(0)
    expect(second.json.result.files.map((file: {action: string}) => file.action)).toEqual(['unchanged', 'unchanged'])
    expect(snapshot(root)).toEqual(before)

    const status = await runAgnes(['schedule', 'status', '--json', '--dir', instance.dir, '--root', root])
    expect(status.exitCode, status.stderr).toBe(0)
    expect(status.json.result).toMatchObject({foreign: [], initSystem: 'systemd', installed: true, project: instance.project})
    expect(status.json.result.schedules).toEqual([
      {
        channel: 'dev',
        dir: instance.dir,
        enabled: 'enabled',
        every: '15m',
        files: [join(root, 'etc/systemd/system', `agnes-upgrade-${instance.project}.service`), join(root, 'etc/systemd/system', `agnes-upgrade-${instance.project}.timer`)],
        initSystem: 'systemd',
        project: instance.project,
      },
    ])
    // The instance follows stable, the schedule dev: status says so.
    expect(status.json.warnings.join('\n')).toContain('re-run `agnes schedule install`')

    const remove = await runAgnes(['schedule', 'remove', '--json', '--dir', instance.dir, '--root', root])
    expect(remove.exitCode, remove.stderr).toBe(0)
    expect(remove.json.result.removed).toHaveLength(2)
    expect(filesUnder(root)).toEqual(['/etc/systemd/system/my-own.service'])
    expect(readFileSync(foreign, 'utf8')).toBe('[Service]\nExecStart=/bin/true\n')

    const after = await runAgnes(['schedule', 'status', '--json', '--dir', instance.dir, '--root', root])
    expect(after.json.result).toMatchObject({installed: false, schedules: []})
    const again = await runAgnes(['schedule', 'remove', '--json', '--dir', instance.dir, '--root', root])
    expect(again.exitCode).toBe(0)
    expect(again.json.result.removed).toEqual([])
  })

  it('gives two instances on one host separate units', async () => {
    const root = newRoot('two', true)
    const first = await newInstance('alpha')
    const second = await newInstance('beta')
    for (const instance of [first, second]) {
      const install = await runAgnes(['schedule', 'install', '--json', '--dir', instance.dir, '--root', root])
      expect(install.exitCode, install.stderr).toBe(0)
    }

    const units = filesUnder(root).filter((path) => path.endsWith('.service'))
    expect(units).toEqual([`/etc/systemd/system/agnes-upgrade-${first.project}.service`, `/etc/systemd/system/agnes-upgrade-${second.project}.service`].sort())
    await runAgnes(['schedule', 'remove', '--dir', first.dir, '--root', root])
    expect(existsSync(join(root, `etc/systemd/system/agnes-upgrade-${second.project}.timer`))).toBe(true)
    expect(existsSync(join(root, `etc/systemd/system/agnes-upgrade-${first.project}.timer`))).toBe(false)
  })

  it('refuses a service environment file that others can read, before writing anything', async () => {
    const instance = await newInstance('loose-env')
    const root = newRoot('loose-env', true)
    mkdirSync(join(root, 'etc/agnes'), {recursive: true})
    const envFile = join(root, 'etc/agnes', `${instance.project}.env`)
    writeFileSync(envFile, `AGNES_ALERT_WEBHOOK=${WEBHOOK}\n`, {mode: 0o644})
    chmodSync(envFile, 0o644)
    const install = await runAgnes(['schedule', 'install', '--json', '--dir', instance.dir, '--root', root])
    expect(install.exitCode).toBe(3)
    expect(install.json.error.hint).toContain('chmod 600')
    expect(existsSync(join(root, 'etc/systemd'))).toBe(false)
    expect(install.stdout + install.stderr).not.toContain(WEBHOOK)
  })
})

describe('agnes schedule with cron', () => {
  it('writes one /etc/cron.d line whose command sh runs with exactly the intended arguments, and no webhook URL', async () => {
    const instance = await newInstance('cron one')
    const root = newRoot('cron-one', false)
    const webhookFile = join(work, 'webhook url')
    writeFileSync(webhookFile, `${WEBHOOK}\n`, {mode: 0o600})
    const argsOut = join(work, 'fake-agnes-args')
    const fakeAgnes = join(work, 'fake agnes')
    writeFileSync(fakeAgnes, `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsOut}'\n`, {mode: 0o755})

    const install = await runAgnes(['schedule', 'install', '--json', '--dir', instance.dir, '--root', root, '--every', '10m', '--agnes-path', fakeAgnes, '--alert-webhook-file', webhookFile])
    expect(install.exitCode, install.stderr).toBe(0)
    const cronFile = join(root, 'etc/cron.d', `agnes-upgrade-${instance.project}`)
    expect(install.json.result).toMatchObject({enabled: null, files: [{action: 'created', path: cronFile}], initSystem: 'cron', log: `/var/log/agnes-upgrade-${instance.project}.log`})
    expect(filesUnder(root)).toEqual([`/etc/cron.d/agnes-upgrade-${instance.project}`])
    const text = readFileSync(cronFile, 'utf8')
    expect(lstatSync(cronFile).mode & 0o777).toBe(0o644)
    expect(text).not.toContain(WEBHOOK)
    for (const secret of instance.secrets) expect(text + install.stdout + install.stderr).not.toContain(secret)

    const lines = text.split('\n').filter((line) => line !== '' && !line.startsWith('#') && !/^[A-Z]+=/.test(line))
    expect(lines).toHaveLength(1)
    const match = /^(\*\/10 \* \* \* \*) root (.*) >>'(\/var\/log\/[^']+)' 2>&1$/.exec(lines[0])
    expect(match, lines[0]).not.toBeNull()
    expect(match![2]).not.toContain('%')
    const ran = spawnSync('/bin/sh', ['-c', match![2]], {encoding: 'utf8'})
    expect(ran.status, ran.stderr).toBe(0)
    expect(readFileSync(argsOut, 'utf8').split('\n').slice(0, -1)).toEqual(['upgrade', '--dir', instance.dir, '--channel', 'stable', '--quiet', '--json', '--alert-webhook-file', webhookFile])

    const status = await runAgnes(['schedule', 'status', '--json', '--dir', instance.dir, '--root', root])
    expect(status.json.result).toMatchObject({initSystem: 'cron', installed: true, schedules: [{channel: 'stable', every: '10m', files: [cronFile], initSystem: 'cron'}]})
  })

  it('switching init system replaces the other schedule; --init-system overrides the detection', async () => {
    const instance = await newInstance('switch')
    const root = newRoot('switch', true)
    expect((await runAgnes(['schedule', 'install', '--dir', instance.dir, '--root', root])).exitCode).toBe(0)
    const cron = await runAgnes(['schedule', 'install', '--json', '--dir', instance.dir, '--root', root, '--init-system', 'cron', '--every', '1h'])
    expect(cron.exitCode, cron.stderr).toBe(0)
    expect(cron.json.result.removed).toHaveLength(2)
    expect(filesUnder(root)).toEqual([`/etc/cron.d/agnes-upgrade-${instance.project}`])
    expect(readFileSync(join(root, 'etc/cron.d', `agnes-upgrade-${instance.project}`), 'utf8')).toMatch(/\n0 \* \* \* \* root /)
  })

  it.each([
    ['a file agnes did not write at its path', 7],
    ['a webhook file others can read', 3],
    ['an interval cron cannot keep', 3],
  ])('refuses %s (exit %i) and writes nothing', async (what, exitCode) => {
    const instance = await newInstance(`refuse-${exitCode}-${what.length}`)
    const root = newRoot(`refuse-${exitCode}-${what.length}`, false)
    const args = ['schedule', 'install', '--json', '--dir', instance.dir, '--root', root]
    const cronFile = join(root, 'etc/cron.d', `agnes-upgrade-${instance.project}`)
    if (exitCode === 7) {
      mkdirSync(join(root, 'etc/cron.d'), {recursive: true})
      writeFileSync(cronFile, '*/5 * * * * root /usr/local/bin/agnes upgrade\n')
    } else if (what.startsWith('a webhook')) {
      const webhookFile = join(work, `loose-${Date.now()}`)
      writeFileSync(webhookFile, WEBHOOK)
      chmodSync(webhookFile, 0o644)
      args.push('--alert-webhook-file', webhookFile)
    } else {
      args.push('--every', '7m')
    }

    const before = snapshot(root)
    const install = await runAgnes(args)
    expect(install.exitCode, install.stdout).toBe(exitCode)
    expect(install.json.ok).toBe(false)
    expect(snapshot(root)).toEqual(before)
    expect(install.stdout + install.stderr).not.toContain(WEBHOOK)
  })
})
