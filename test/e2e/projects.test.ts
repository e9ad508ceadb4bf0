import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {appendFileSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, appContainers, destroyInstance, engineOpenFileLimit, freePort, instancesRoot, publishStandard, readEnvFile, singleJson} from './fixtures.js'

/** `agnes init` in a given directory (fixtures' newInstance picks its own directory name). */
async function initIn(dir: string, name: string, repository: string): Promise<TestInstance> {
  const port = await freePort()
  const init = await runAgnes(['init', '--non-interactive', '--json', '--dir', dir, '--image', repository, '--admin-email', 'admin@example.com', '--http-port', String(port), '--memory', '512m', '--cpus', '1', '--channel', 'stable'])
  expect(init.exitCode, init.stdout + init.stderr).toBe(0)
  appendFileSync(join(dir, '.env'), `\n# test host\nAGNES_HEALTHCHECK_INTERVAL=2s\nAGNES_NOFILE=${engineOpenFileLimit()}\n`)
  const state = JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8')) as {project: string}
  return {dir, name, port, project: state.project, repository, url: `http://127.0.0.1:${port}`}
}

function lines(command: string, args: string[], cwd?: string): string[] {
  const result = spawnSync(command, args, {cwd, encoding: 'utf8'})
  return result.stdout.trim().split('\n').filter(Boolean)
}

const containerNames = (project: string) => lines('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}']).sort()

/** The volume mounted at /data in the instance's app container. */
function dataVolume(project: string): string {
  const [app] = appContainers(project)
  const mounts = JSON.parse(lines('docker', ['inspect', '--format', '{{json .Mounts}}', app.id])[0]) as Array<{Destination: string; Name?: string}>
  return mounts.find((mount) => mount.Destination === '/data')?.Name ?? ''
}

/** Docker Compose as an operator would run it by hand in the directory, with no -p: v2 plugin or v1 binary. */
function handRunCompose(): string[] {
  return spawnSync('docker', ['compose', 'version'], {encoding: 'utf8'}).status === 0 ? ['docker', 'compose'] : ['docker-compose']
}

describe('two instances on one host whose directories have the same base name', () => {
  let published: Published
  const root = join(instancesRoot, `projects-${randomBytes(3).toString('hex')}`)
  const dirA = join(root, 'a', 'agnes')
  const dirB = join(root, 'b', 'agnes')
  const dirCopy = join(root, 'copy', 'agnes')
  const instances: TestInstance[] = []
  let a: TestInstance
  let b: TestInstance

  beforeAll(async () => {
    published = await publishStandard('projects')
  })

  afterAll(() => {
    for (const instance of instances) destroyInstance(instance)
    rmSync(root, {force: true, recursive: true})
  })

  it('each gets its own Compose project, containers and data volume; status in each shows only its own', async () => {
    a = await initIn(dirA, 'projects-a', published.repository)
    instances.push(a)
    const upA = await runAgnes(['up', '--json', '--dir', dirA])
    expect(upA.exitCode, upA.stderr).toBe(0)

    b = await initIn(dirB, 'projects-b', published.repository)
    instances.push(b)
    expect(b.project).not.toBe(a.project)
    expect(b.project).toMatch(/^agnes-[0-9a-f]{8}$/)
    for (const instance of [a, b]) expect(readEnvFile(join(instance.dir, '.env')).COMPOSE_PROJECT_NAME).toBe(instance.project)

    const containersOfA = containerNames(a.project)
    const appOfA = appContainers(a.project)[0].id
    const upB = await runAgnes(['up', '--json', '--dir', dirB])
    expect(upB.exitCode, upB.stderr).toBe(0)

    // The second `up` left the first instance alone: same containers, same app container, still running.
    expect(containerNames(a.project)).toEqual(containersOfA)
    expect(appContainers(a.project)[0]).toMatchObject({id: appOfA, state: 'running'})
    expect(dataVolume(a.project)).toBe(`${a.project}_data`)
    expect(dataVolume(b.project)).toBe(`${b.project}_data`)

    for (const [mine, other] of [[a, b], [b, a]]) {
      const status = await runAgnes(['status', '--json', '--dir', mine.dir])
      expect(status.exitCode, status.stderr).toBe(0)
      const result = singleJson(status).result
      expect(result.project).toBe(mine.project)
      const shown = (result.containers as Array<{name: string}>).map((container) => container.name).sort()
      expect(shown).toEqual(containerNames(mine.project))
      for (const name of containerNames(other.project)) expect(shown).not.toContain(name)
    }

    // A hand-run compose in the directory (no -p) finds the same project through COMPOSE_PROJECT_NAME in .env.
    const [command, ...prefix] = handRunCompose()
    const ids = lines(command, [...prefix, 'ps', '-q'], dirB).sort()
    expect(ids).toEqual(lines('docker', ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${b.project}`]).map((id) => id.slice(0, ids[0]?.length)).sort())
  })

  it("a directory whose project another directory runs is refused (exit 7) by up and init, status shows none of it as its own, and nothing changes", async () => {
    const copy = await initIn(dirCopy, 'projects-copy', published.repository)
    instances.push(copy)
    // As if the directory were copied from a's, state and all: it now names a's project.
    const statePath = join(dirCopy, '.agnes', 'state.json')
    writeFileSync(statePath, JSON.stringify({...JSON.parse(readFileSync(statePath, 'utf8')), project: a.project}, null, 2))
    const appOfA = appContainers(a.project)[0].id
    const stateBefore = readFileSync(statePath, 'utf8')
    const envBefore = readFileSync(join(dirCopy, '.env'), 'utf8')

    for (const args of [['up'], ['init', '--non-interactive']]) {
      const refused = await runAgnes([...args, '--json', '--dir', dirCopy])
      const json = singleJson(refused)
      expect(refused.exitCode, `${args[0]}: ${refused.stdout}`).toBe(7)
      expect(json.error.code).toBe('E_CONFLICT')
      expect(json.error.message).toContain(dirA)
      expect(json.error.hint).toContain('--project')
    }

    // status does not show a's containers or a's app as the copy's own: it names the owner and the way out.
    const status = await runAgnes(['status', '--json', '--dir', dirCopy])
    expect(status.exitCode, status.stdout).toBe(0)
    const shown = singleJson(status).result
    expect(shown).toMatchObject({containers: [], healthy: false, projectOwnedBy: dirA, running: null})
    expect(shown.nextSteps.join(' ')).toContain('--project')

    expect(appContainers(a.project)[0]).toMatchObject({id: appOfA, state: 'running'})
    expect(readFileSync(statePath, 'utf8')).toBe(stateBefore)
    expect(readFileSync(join(dirCopy, '.env'), 'utf8')).toBe(envBefore)

    // The way out the hint names: the copy gets a project of its own.
    const moved = await runAgnes(['init', '--non-interactive', '--json', '--dir', dirCopy, '--project', 'agnes-copy'])
    expect(moved.exitCode, moved.stderr).toBe(0)
    expect(JSON.parse(readFileSync(statePath, 'utf8')).project).toBe('agnes-copy')
    expect(readEnvFile(join(dirCopy, '.env')).COMPOSE_PROJECT_NAME).toBe('agnes-copy')
    expect(appContainers(a.project)[0]).toMatchObject({id: appOfA, state: 'running'})
  })

  it('two directories initialised before either started: the second up is refused (exit 7), never merged', async () => {
    // A base name nobody on this engine uses, so both inits see it free and choose it.
    const base = `twin-${randomBytes(3).toString('hex')}`
    const first = await initIn(join(root, 'x', base), 'projects-twin-1', published.repository)
    instances.push(first)
    const second = await initIn(join(root, 'y', base), 'projects-twin-2', published.repository)
    expect(second.project).toBe(first.project)

    const upFirst = await runAgnes(['up', '--json', '--dir', first.dir])
    expect(upFirst.exitCode, upFirst.stderr).toBe(0)
    const appOfFirst = appContainers(first.project)[0].id
    const refused = await runAgnes(['up', '--json', '--dir', second.dir])
    expect(refused.exitCode, refused.stdout).toBe(7)
    expect(singleJson(refused).error.message).toContain(first.dir)
    expect(appContainers(first.project)).toEqual([expect.objectContaining({id: appOfFirst, state: 'running'})])

    const renamed = await runAgnes(['init', '--non-interactive', '--json', '--dir', second.dir, '--project', `${base}-y`])
    expect(renamed.exitCode, renamed.stderr).toBe(0)
    instances.push({...second, project: `${base}-y`})
    const upSecond = await runAgnes(['up', '--json', '--dir', second.dir])
    expect(upSecond.exitCode, upSecond.stderr).toBe(0)
    expect(dataVolume(`${base}-y`)).toBe(`${base}-y_data`)
    expect(appContainers(first.project)[0]).toMatchObject({id: appOfFirst, state: 'running'})
  })
})
