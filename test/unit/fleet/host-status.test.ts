// `agnes fleet host-status`: the command in-process (no build) and its library, with instance directories on
// disk, no Docker engine (DOCKER_HOST points nowhere) and the fake app of test/unit/deploy/fake-host.ts.
import {Config} from '@oclif/core'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi} from 'vitest'

import FleetHostStatus from '../../../src/commands/fleet/host-status.js'
import Status from '../../../src/commands/status.js'
import type {StatusDeps, StatusResult} from '../../../src/lib/deploy/status.js'
import {hostStatus} from '../../../src/lib/fleet/host-status.js'
import {FakeInstance, fakeInstance} from '../deploy/fake-host.js'
import {repoRoot} from '../../helpers/run-cli.js'

let config: Config
let stdout: string
let instance: FakeInstance
const empty = mkdtempSync(join(tmpdir(), 'agnes-host-status-'))

beforeAll(async () => {
  config = await Config.load({root: repoRoot})
  instance = await fakeInstance({state: {current: undefined, knownGood: []}})
})

afterAll(async () => {
  await instance.close()
  rmSync(empty, {force: true, recursive: true})
})

beforeEach(() => {
  stdout = ''
  process.exitCode = undefined
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString()
    return true
  })
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  vi.stubEnv('DOCKER_HOST', `unix://${join(empty, 'no-docker.sock')}`)
  vi.stubEnv('NODE_ENV', 'production')
  vi.stubEnv('NO_COLOR', '1')
})

afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllEnvs()
  process.exitCode = undefined
})

async function hostStatusCommand(argv: string[]): Promise<{exitCode: number; json: any}> {
  await FleetHostStatus.run(argv, config)
  let json: any
  try {
    json = JSON.parse(stdout)
  } catch {
    json = undefined
  }

  return {exitCode: Number(process.exitCode ?? 0), json}
}

describe('agnes fleet host-status', () => {
  it('gives one entry per directory in the order named: a status, or the error `agnes status` gives there (exit 0)', async () => {
    const {exitCode, json} = await hostStatusCommand([instance.dir, empty, instance.dir, '--json'])
    expect(exitCode).toBe(0)
    expect(json.ok).toBe(true)
    expect(json.result.agnesVersion).toBe(config.version)
    expect(json.result.instances.map((entry: {dir: string; ok: boolean}) => [entry.dir, entry.ok])).toEqual([
      [instance.dir, true],
      [empty, false],
      [instance.dir, true],
    ])
    expect(json.result.instances[0].result).toMatchObject({docker: {reachable: false}, following: 'channel stable', healthy: true, project: 'unit'})
    expect(json.result.instances[1].error).toMatchObject({code: 'E_INVALID', exitCode: 3, message: `${empty} is not an agnes instance (no .agnes/state.json)`})
    stdout = ''
    await Status.run(['--dir', empty, '--json'], config)
    expect(json.result.instances[1].error).toEqual(JSON.parse(stdout).error)
  })

  it('prints one line per directory for a person', async () => {
    const {exitCode} = await hostStatusCommand([instance.dir, empty])
    expect(exitCode).toBe(0)
    const lines = stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(new RegExp(`^${instance.dir}  healthy  .*channel stable$`))
    expect(lines[1]).toBe(`${empty}  ERROR ${empty} is not an agnes instance (no .agnes/state.json)`)
  })

  it('needs at least one directory, and refuses a flag it does not know rather than read it as one (exit 2)', async () => {
    expect((await hostStatusCommand(['--json'])).exitCode).toBe(2)
    stdout = ''
    const unknown = await hostStatusCommand([instance.dir, '--verbose=1', '--json'])
    expect(unknown.exitCode).toBe(2)
    expect(unknown.json.error).toMatchObject({code: 'E_USAGE', message: 'Unknown flag --verbose'})
  })

  it('ignores --dir: the directories are its arguments', async () => {
    const {json} = await hostStatusCommand([empty, '--dir', instance.dir, '--json'])
    expect(json.result.instances).toEqual([expect.objectContaining({dir: empty, ok: false})])
  })
})

describe('hostStatus', () => {
  it('reads every directory at once, sharing one engine connection and one compose detection', async () => {
    const engines: Array<Promise<unknown>> = []
    const composes: Array<Promise<unknown>> = []
    let inFlight = 0
    let most = 0
    const read = async (dir: string, _signal?: AbortSignal, deps: StatusDeps = {}): Promise<StatusResult> => {
      for (const [list, connect] of [[engines, deps.engine], [composes, deps.compose]] as const) {
        const answer = connect!()
        answer.catch(() => undefined)
        list.push(answer)
      }

      inFlight++
      most = Math.max(most, inFlight)
      await new Promise((resolve) => setTimeout(resolve, 5))
      inFlight--
      return {dir} as StatusResult
    }

    const result = await hostStatus(['/a', '/b', '/a'], {agnesVersion: '0.2.0', read})
    expect(result.instances.map((entry) => entry.dir)).toEqual(['/a', '/b', '/a'])
    expect(most).toBe(3)
    expect(engines).toHaveLength(3)
    expect(new Set(engines).size).toBe(1)
    expect(new Set(composes).size).toBe(1)
  })
})
