import {spawn, spawnSync} from 'node:child_process'
import {accessSync, appendFileSync, constants, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CliResult, repoRoot, runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, destroyInstance, engineOpenFileLimit, freePort, getJson, instancesRoot, publishStandard, releaseStable, singleJson} from './fixtures.js'

// `npm run test:e2e:binary` builds dist-bin/agnes-linux-<arch> (npm run package) and points AGNES_BIN at it.
const binary = resolve(process.env.AGNES_BIN ?? '')
// A PATH with the Docker clients only: the binary must not need `node`.
const pathDir = mkdtempSync(join(tmpdir(), 'agnes-bin-path-'))

function runBinary(args: string[]): Promise<CliResult> {
  const env = {HOME: process.env.HOME ?? '/root', PATH: pathDir, ...(process.env.AGNES_COMPOSE ? {AGNES_COMPOSE: process.env.AGNES_COMPOSE} : {})}
  return runAgnes(args, {baseEnv: env, cwd: tmpdir(), executable: binary})
}

async function serving(instance: TestInstance): Promise<{version: string; healthy: boolean}> {
  const [version, health] = await Promise.all([getJson(`${instance.url}/api/version`), getJson(`${instance.url}/api/health`)])
  return {healthy: health.body.status === 'ok' && health.body.db_schema === 'ok', version: version.body.version}
}

let published: Published
let instance: TestInstance | undefined

beforeAll(async () => {
  accessSync(binary, constants.X_OK)
  for (const tool of ['docker', 'docker-compose']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], {encoding: 'utf8'}).stdout.trim()
    if (found) symlinkSync(found, join(pathDir, tool))
  }

  expect(spawnSync('/bin/sh', ['-c', 'command -v node'], {env: {PATH: pathDir}}).status).not.toBe(0)
  published = await publishStandard('binary')
})

afterAll(() => {
  destroyInstance(instance)
  rmSync(pathDir, {force: true, recursive: true})
})

describe(`the single executable (AGNES_BIN=${process.env.AGNES_BIN}) on a PATH without node`, () => {
  it('is one file that runs by itself', async () => {
    const version = await runBinary(['--version'])
    expect(version.exitCode, version.stderr).toBe(0)
    expect(version.stdout).toMatch(/^agnes\/\d+\.\d+\.\d+ linux-/)
    expect(version.stderr).toBe('')
  })

  it('init → up → status', async () => {
    const dir = join(instancesRoot, `binary-${Date.now()}`)
    mkdirSync(instancesRoot, {recursive: true})
    const port = await freePort()
    const init = await runBinary(['init', '--non-interactive', '--json', '--dir', dir, '--image', published.repository, '--channel', 'stable', '--admin-email', 'admin@example.com', '--http-port', String(port), '--memory', '512m', '--cpus', '1'])
    expect(init.exitCode, init.stdout + init.stderr).toBe(0)
    const state = JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8')) as {project: string}
    instance = {dir, name: 'binary', port, project: state.project, repository: published.repository, url: `http://127.0.0.1:${port}`}
    // The templates travel inside the binary.
    expect(readFileSync(join(dir, 'docker-compose.yml'), 'utf8')).toContain('Managed by agnes')
    appendFileSync(join(dir, '.env'), `\n# test host\nAGNES_HEALTHCHECK_INTERVAL=2s\nAGNES_NOFILE=${engineOpenFileLimit()}\n`)

    const up = await runBinary(['up', '--json', '--dir', dir])
    expect(up.exitCode, up.stdout + up.stderr).toBe(0)
    const status = await runBinary(['status', '--json', '--dir', dir])
    expect(status.exitCode, status.stderr).toBe(0)
    expect(singleJson(status).result).toMatchObject({healthy: true, running: {digest: published.digests.stable, version: '0.84.2'}})
  })

  it('upgrade applies a good release, then rolls a crashing one back (exit 10)', async () => {
    const good = await releaseStable(published.repository, 'stable-2026.04.5', '0.84.5')
    const upgraded = await runBinary(['upgrade', '--json', '--dir', instance!.dir, '--smoke-settle', '0'])
    expect(upgraded.exitCode, upgraded.stdout + upgraded.stderr).toBe(0)
    expect(singleJson(upgraded).result).toMatchObject({outcome: 'upgraded', to: {digest: good, version: '0.84.5'}})

    const images = await import('../standin/images.mjs')
    const {digest: crash} = await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.04.6', variant: 'crash', version: '0.84.6'})
    await images.moveTag({fromTag: 'stable-2026.04.6', repository: published.repository, toTag: 'stable'})
    const rolledBack = await runBinary(['upgrade', '--json', '--dir', instance!.dir, '--smoke-settle', '0'])
    expect(rolledBack.exitCode, rolledBack.stdout + rolledBack.stderr).toBe(10)
    expect(singleJson(rolledBack).result).toMatchObject({outcome: 'rolled-back', to: {digest: crash}})
    expect(await serving(instance!)).toEqual({healthy: true, version: '0.84.5'})
  })

  it('rollback returns to the previous good version, and status shows it', async () => {
    const rollback = await runBinary(['rollback', '--json', '--dir', instance!.dir, '--smoke-settle', '0'])
    expect(rollback.exitCode, rollback.stdout + rollback.stderr).toBe(0)
    expect(singleJson(rollback).result).toMatchObject({from: {version: '0.84.5'}, outcome: 'rolled-back', to: {version: '0.84.2'}})
    const status = await runBinary(['status', '--json', '--dir', instance!.dir])
    expect(singleJson(status).result).toMatchObject({healthy: true, running: {version: '0.84.2'}})
  })

  it('schedule install makes cron run the binary itself, not node', async () => {
    const root = mkdtempSync(join(tmpdir(), 'agnes-bin-root-'))
    try {
      const install = await runBinary(['schedule', 'install', '--json', '--dir', instance!.dir, '--root', root, '--init-system', 'cron'])
      expect(install.exitCode, install.stdout + install.stderr).toBe(0)
      expect(singleJson(install).result.command.slice(0, 2)).toEqual([realpathSync(binary), 'upgrade'])
    } finally {
      rmSync(root, {force: true, recursive: true})
    }
  })
})
