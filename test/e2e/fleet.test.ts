// `agnes fleet` end to end: a real OpenSSH server on 127.0.0.1 (test/infra/start-sshd.sh, host key verified
// through a known_hosts file), six instances on the engine (five reached through sshd, one `local`), and
// the stand-in releases in the local registry.
import {spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, readFileSync, appendFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CliResult, binPath, repoRoot, runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, destroyInstance, freePort, publishStandard, releaseStable, runningInstance, servingNow, singleJson} from './fixtures.js'

// The canary is listed last: the groups, not the order in the file, decide who goes first.
const GROUPS: Record<string, string> = {a1: 'w1', a2: 'w1', b1: 'w2', b2: 'w2', b3: 'w2', c1: 'canary'}
const instances = new Map<string, TestInstance>()
const stateDir = join(repoRoot, '.e2e-tmp', `fleet-sshd-${process.pid}`)
let sshd: Record<string, string>
let published: Published
let inventoryFile: string

function state(name: string): {current: {digest: string; deployedAt: string}; rejected: string[]} {
  return JSON.parse(readFileSync(join(instances.get(name)!.dir, '.agnes', 'state.json'), 'utf8'))
}

function history(name: string): Array<{action: string; outcome: string; reason?: string; to?: {digest?: string}}> {
  return readFileSync(join(instances.get(name)!.dir, '.agnes', 'history.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line))
}

function writeInventory(file: string, extra: Array<{name: string; target: string; dir: string}> = [], soak = '3s'): void {
  const lines = ['ssh:', `  knownHosts: ${sshd.KNOWN_HOSTS}`, `  identityFile: ${sshd.KEY}`, 'rollout:', `  soak: ${soak}`, '  checkEvery: 1s', '  pause: 1s', '  parallel: 1', 'waves: [w1, w2]', 'instances:']
  for (const [name, instance] of instances) {
    const target = name === 'b3' ? 'local' : `${sshd.USER}@127.0.0.1:${sshd.PORT}`
    lines.push(`  - {name: ${name}, group: ${GROUPS[name]}, target: "${target}", dir: "${instance.dir}"}`)
  }

  for (const entry of extra) lines.push(`  - {name: ${entry.name}, target: "${entry.target}", dir: "${entry.dir}"}`)
  writeFileSync(file, lines.join('\n') + '\n')
}

const fleet = (args: string[], options: Parameters<typeof runAgnes>[1] = {}): Promise<CliResult> => runAgnes(['fleet', ...args, '--json'], {timeoutMs: 240_000, ...options})

beforeAll(async () => {
  mkdirSync(join(stateDir, 'bin'), {recursive: true})
  // The remote `agnes` of sshd sessions: this worktree's build, with the compose flavour of this run.
  const wrapper = join(stateDir, 'bin', 'agnes')
  writeFileSync(wrapper, `#!/bin/sh\n${process.env.AGNES_COMPOSE ? `export AGNES_COMPOSE='${process.env.AGNES_COMPOSE}'\n` : ''}exec '${process.execPath}' '${binPath}' "$@"\n`)
  chmodSync(wrapper, 0o755)
  const started = spawnSync('bash', [join(repoRoot, 'test', 'infra', 'start-sshd.sh'), stateDir, join(stateDir, 'bin')], {encoding: 'utf8'})
  if (started.status !== 0) throw new Error(`start-sshd.sh failed: ${started.stderr}`)
  sshd = Object.fromEntries(started.stdout.trim().split('\n').map((line) => line.split('=', 2) as [string, string]))
  published = await publishStandard('fleet')
  const made = await Promise.all(Object.keys(GROUPS).map((name) => runningInstance(`fleet-${name}`, published.repository)))
  for (const [index, name] of Object.keys(GROUPS).entries()) instances.set(name, made[index])
  inventoryFile = join(stateDir, 'fleet.yaml')
  writeInventory(inventoryFile)
})

afterAll(() => {
  for (const instance of instances.values()) destroyInstance(instance)
  if (sshd?.PID) process.kill(Number(sshd.PID))
})

describe('agnes fleet', () => {
  it('status reads every instance through ssh and reports an unreachable one without failing the others (exit 8)', async () => {
    const withGhost = join(stateDir, 'fleet-ghost.yaml')
    // `nowhere` is on the sshd host with five instances: one remote agnes reads them all, and its row alone fails.
    const nowhere = join(stateDir, 'not-an-instance')
    writeInventory(withGhost, [
      {dir: '/opt/agnes', name: 'ghost', target: `${sshd.USER}@127.0.0.1:${await freePort()}`},
      {dir: nowhere, name: 'nowhere', target: `${sshd.USER}@127.0.0.1:${sshd.PORT}`},
    ])
    const result = await fleet(['status', '--inventory', withGhost])
    expect(result.exitCode, result.stderr).toBe(8)
    const rows = singleJson(result).result.instances as Array<{name: string; reachable: boolean; healthy: boolean; digest: string; problem?: string}>
    expect(rows.map((row) => row.name)).toEqual([...instances.keys(), 'ghost', 'nowhere'])
    for (const row of rows.slice(0, 6)) expect(row, row.name).toMatchObject({agnesVersion: expect.stringMatching(/^\d+\.\d+\.\d+$/), digest: published.digests.stable, healthy: true, lastOutcome: {action: expect.any(String)}, reachable: true})
    expect(rows[6]).toMatchObject({problem: expect.stringMatching(/ssh .*failed/), reachable: false})
    expect(rows[7]).toMatchObject({problem: `${nowhere} is not an agnes instance (no .agnes/state.json)`, reachable: false})
    const plain = await runAgnes(['fleet', 'status', '--inventory', inventoryFile])
    expect(plain.exitCode, plain.stderr).toBe(0)
    expect(plain.stdout).toMatch(/^NAME +GROUP +TARGET/)
    expect(plain.stdout).toContain('6 of 6 read, 6 healthy')
  })

  it('rolls a good release out canary → waves in order; Ctrl-C waits for the instance in flight and a second run resumes', async () => {
    const release = await releaseStable(published.repository, 'stable-2026.07.1', '0.90.1')
    let interrupted = false
    const first = await fleet(['upgrade', '--inventory', inventoryFile, '--channel', 'stable'], {
      onSpawn(child) {
        child.stderr?.on('data', (chunk: Buffer) => {
          if (!interrupted && chunk.toString().includes('a1: upgrading')) {
            interrupted = true
            child.kill('SIGINT')
          }
        })
      },
    })
    expect(first.exitCode, first.stderr).toBe(130)
    expect(state('c1').current.digest).toBe(release)
    expect(state('a1').current.digest).toBe(release)
    expect(state('a2').current.digest).toBe(published.digests.stable)

    const second = await fleet(['upgrade', '--inventory', inventoryFile, '--channel', 'stable'])
    expect(second.exitCode, second.stderr).toBe(0)
    const summary = singleJson(second).result
    expect(summary).toMatchObject({digest: release, outcome: 'completed'})
    const outcomes = Object.fromEntries(summary.instances.map((entry: {name: string; outcome: string}) => [entry.name, entry.outcome]))
    expect(outcomes).toEqual({a1: 'up-to-date', a2: 'upgraded', b1: 'upgraded', b2: 'upgraded', b3: 'upgraded', c1: 'up-to-date'})
    const order = ['c1', 'a1', 'a2', 'b1', 'b2', 'b3'].map((name) => Date.parse(state(name).current.deployedAt))
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    for (const instance of instances.values()) expect((await servingNow(instance)).version).toBe('0.90.1')
  })

  it('a crashing release is rolled back on the canary, touches no other instance, is rejected fleet-wide and retracted in the registry (exit 10)', async () => {
    const images = await import('../standin/images.mjs')
    const good = state('c1').current.digest
    const before = Object.fromEntries(['a1', 'a2', 'b1', 'b2', 'b3'].map((name) => [name, history(name).length]))
    const {digest: crashing} = await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.07.2', variant: 'crash', version: '0.90.2'})
    await images.moveTag({fromTag: 'stable-2026.07.2', repository: published.repository, toTag: 'stable'})
    const result = await fleet(['upgrade', '--inventory', inventoryFile, '--channel', 'stable'])
    expect(result.exitCode, result.stderr).toBe(10)
    const summary = singleJson(result).result
    expect(summary).toMatchObject({digest: crashing, haltedBy: {name: 'c1', outcome: 'rolled-back'}, outcome: 'halted', retraction: {channelMovedTo: good, deprecatedTag: 'deprecated-2026.07.2'}})
    expect(await servingNow(instances.get('c1')!)).toEqual({healthy: true, version: '0.90.1'})
    // The canary retracted it: deprecated in the registry, and :stable back on the good build.
    expect(await images.manifestDigest({repository: published.repository, tag: 'deprecated-2026.07.2'})).toBe(crashing)
    expect(await images.manifestDigest({repository: published.repository, tag: 'stable'})).toBe(good)
    for (const name of ['a1', 'a2', 'b1', 'b2', 'b3']) {
      // Nothing was deployed there: the one new history entry is the rejection, with its reason.
      expect(history(name).slice(before[name]), name).toEqual([expect.objectContaining({action: 'reject', reason: expect.stringContaining('c1'), to: {digest: crashing}})])
      expect(state(name).current.digest).toBe(good)
    }

    for (const name of instances.keys()) expect(state(name).rejected, name).toContain(crashing)
    // A cron tick on any instance now leaves it alone.
    const tick = await runAgnes(['upgrade', '--json', '--dir', instances.get('b1')!.dir])
    expect(singleJson(tick).result.outcome).toBe('up-to-date')
  })

  it('a canary that stops holding during the soak is rolled back, and the release is rejected fleet-wide and retracted (exit 10)', async () => {
    const images = await import('../standin/images.mjs')
    const good = state('c1').current.digest
    const canaryHistory = history('c1').length
    const release = await releaseStable(published.repository, 'stable-2026.07.3', '0.90.3')
    const longSoak = join(stateDir, 'fleet-long-soak.yaml')
    writeInventory(longSoak, [], '2m')
    let stopped = false
    const result = await fleet(['upgrade', '--inventory', longSoak, '--channel', 'stable'], {
      onSpawn(child) {
        child.stderr?.on('data', (chunk: Buffer) => {
          if (stopped || !chunk.toString().includes('Soaking the canary')) return
          // The canary passed its own upgrade; now its app goes away, as a build that fails after a while would.
          stopped = true
          const app = spawnSync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${instances.get('c1')!.project}`, '--filter', 'label=com.docker.compose.service=app'], {encoding: 'utf8'}).stdout.trim()
          spawnSync('docker', ['stop', '--time', '5', app])
        })
      },
    })
    expect(stopped).toBe(true)
    expect(result.exitCode, result.stderr).toBe(10)
    const summary = singleJson(result).result
    expect(summary).toMatchObject({digest: release, haltedBy: {name: 'c1', outcome: 'rolled-back', reason: expect.stringContaining('soak')}, outcome: 'halted', retraction: {channelMovedTo: good, deprecatedTag: 'deprecated-2026.07.3'}})
    expect(await servingNow(instances.get('c1')!)).toEqual({healthy: true, version: '0.90.1'})
    expect(await images.manifestDigest({repository: published.repository, tag: 'deprecated-2026.07.3'})).toBe(release)
    expect(await images.manifestDigest({repository: published.repository, tag: 'stable'})).toBe(good)
    expect(history('c1').slice(canaryHistory).map((entry) => `${entry.action} ${entry.outcome}`)).toEqual(expect.arrayContaining(['upgrade upgraded', 'rollback succeeded', 'retract retracted']))
    for (const name of ['a1', 'a2', 'b1', 'b2', 'b3']) expect(state(name).current.digest, name).toBe(good)
    for (const name of instances.keys()) expect(state(name).rejected, name).toContain(release)
  })

  it('a wave instance that fails halts the rollout before the next wave (exit 11)', async () => {
    const release = await releaseStable(published.repository, 'stable-2026.07.4', '0.90.4')
    // Only a2 breaks: its .env (passed to the container) makes every version it starts crash.
    appendFileSync(join(instances.get('a2')!.dir, '.env'), 'STANDIN_VARIANT=crash\n')
    const result = await fleet(['upgrade', '--inventory', inventoryFile, '--channel', 'stable'])
    expect(result.exitCode, result.stderr).toBe(11)
    const summary = singleJson(result).result
    expect(summary).toMatchObject({haltedBy: {name: 'a2', outcome: 'failed'}, outcome: 'halted'})
    expect(state('c1').current.digest).toBe(release)
    expect(state('a1').current.digest).toBe(release)
    for (const name of ['b1', 'b2', 'b3']) {
      expect(state(name).current.digest, name).not.toBe(release)
      expect(state(name).rejected, name).toContain(release)
    }
  })
})
