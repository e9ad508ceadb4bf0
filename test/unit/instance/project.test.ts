import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {ComposeResource, DockerEngine} from '../../../src/lib/docker/engine.js'
import {ConflictError, DockerError, ExitCode} from '../../../src/lib/errors.js'
import {PROJECT_NAME_PATTERN, checkProjectOwnership, chooseProjectName, decideProject, pathUniqueProjectName} from '../../../src/lib/instance/project.js'
import {instancePaths} from '../../../src/lib/instance/paths.js'
import type {Instance, InstanceState} from '../../../src/lib/instance/state.js'
import type {Reporter} from '../../../src/lib/ui/reporter.js'

let root: string
let a: string
let b: string

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'agnes-projects-'))
  a = join(root, 'srv-a', 'agnes')
  b = join(root, 'srv-b', 'agnes')
  mkdirSync(a, {recursive: true})
  mkdirSync(b, {recursive: true})
})

afterEach(() => rmSync(root, {force: true, recursive: true}))

/** What a running instance leaves on the engine: its two containers (with Compose's working_dir label) and its volume. */
function runningInstance(project: string, dir: string): ComposeResource[] {
  return [
    {kind: 'container', name: `${project}_app_1`, project, workingDir: dir},
    {kind: 'container', name: `${project}_scheduler_1`, project, workingDir: dir},
    {kind: 'volume', name: `${project}_data`, project},
  ]
}

const listing = (resources: ComposeResource[]) => async () => resources

describe('chooseProjectName (a fake engine listing)', () => {
  it('takes the directory base name when no project of that name exists', () => {
    expect(chooseProjectName(a, runningInstance('other', join(root, 'other')))).toBe('agnes')
  })

  it('gives a second directory with the same base name a distinct, safe name', () => {
    const name = chooseProjectName(b, runningInstance('agnes', a))
    expect(name).not.toBe('agnes')
    expect(name).toMatch(/^agnes-[0-9a-f]{8}$/)
    expect(name).toMatch(PROJECT_NAME_PATTERN)
    expect(name).toBe(pathUniqueProjectName(b))
    expect(pathUniqueProjectName(a)).not.toBe(name)
  })

  it('counts a volume alone as taken: its data may belong to a stopped instance', () => {
    expect(chooseProjectName(b, [{kind: 'volume', name: 'agnes_data', project: 'agnes'}])).toBe(pathUniqueProjectName(b))
  })

  it('counts containers of a directory that no longer exists as taken for a new instance', () => {
    expect(chooseProjectName(b, runningInstance('agnes', join(root, 'gone', 'agnes')))).toBe(pathUniqueProjectName(b))
  })

  it('keeps the base name when the containers of that project came from this very directory', () => {
    expect(chooseProjectName(a, runningInstance('agnes', a))).toBe('agnes')
  })

  it('stays within 48 safe characters for a long directory name', () => {
    const long = join(root, 'x'.repeat(80))
    mkdirSync(long)
    const name = chooseProjectName(long, runningInstance('x'.repeat(48), join(root, 'srv-a')))
    expect(name.length).toBeLessThanOrEqual(48)
    expect(name).toMatch(PROJECT_NAME_PATTERN)
  })
})

describe('decideProject', () => {
  it('a new instance next to a running one with the same base name gets its own project', async () => {
    const choice = await decideProject({dir: b, listResources: listing(runningInstance('agnes', a))})
    expect(choice).toEqual({project: pathUniqueProjectName(b), warnings: []})
  })

  it('an existing instance keeps the name it runs under, even if a fresh choice would differ', async () => {
    const choice = await decideProject({current: 'agnes', dir: a, listResources: listing([...runningInstance('agnes', a), {kind: 'volume', name: 'x', project: 'agnes'}])})
    expect(choice.project).toBe('agnes')
  })

  it('refuses a directory whose recorded project another existing directory runs (exit 7, naming it and the fix)', async () => {
    const refused = decideProject({current: 'agnes', dir: b, listResources: listing(runningInstance('agnes', a))})
    await expect(refused).rejects.toBeInstanceOf(ConflictError)
    const error = (await refused.catch((caught) => caught)) as ConflictError
    expect(error.exitCode).toBe(ExitCode.CONFLICT)
    expect(error.message).toContain(a)
    expect(error.hint).toContain('--project')
  })

  it('refuses COMPOSE_PROJECT_NAME from .env when another directory runs that project', async () => {
    await expect(decideProject({dir: b, fromEnv: 'agnes', listResources: listing(runningInstance('agnes', a))})).rejects.toBeInstanceOf(ConflictError)
    expect((await decideProject({dir: b, fromEnv: 'mine', listResources: listing(runningInstance('agnes', a))})).project).toBe('mine')
  })

  it('takes over the containers of a directory that was moved away, with a warning', async () => {
    const choice = await decideProject({current: 'agnes', dir: b, listResources: listing(runningInstance('agnes', join(root, 'moved-away')))})
    expect(choice.project).toBe('agnes')
    expect(choice.warnings.join('\n')).toContain('no longer exists')
  })

  it('with the engine unreachable, a new instance gets the path-unique name and says so', async () => {
    const unreachable = async (): Promise<ComposeResource[]> => {
      throw new DockerError('the Docker engine is not reachable at /var/run/docker.sock (ENOENT)')
    }

    const choice = await decideProject({dir: b, listResources: unreachable})
    expect(choice.project).toBe(pathUniqueProjectName(b))
    expect(choice.warnings.join('\n')).toMatch(/not reachable.*unique to this directory's path/)
    const existing = await decideProject({current: 'agnes', dir: b, listResources: unreachable})
    expect(existing.project).toBe('agnes')
    await expect(decideProject({current: 'agnes', dir: b, listResources: unreachable, requested: 'fresh'})).rejects.toBeInstanceOf(DockerError)
  })

  it('--project moves a copied directory off the project another directory runs', async () => {
    const choice = await decideProject({current: 'agnes', dir: b, listResources: listing(runningInstance('agnes', a)), requested: 'agnes-b'})
    expect(choice.project).toBe('agnes-b')
    expect(choice.warnings.join('\n')).toContain('agnes-b')
  })

  it('--project never renames an instance that has containers of its own under its name (exit 7)', async () => {
    const refused = decideProject({current: 'agnes', dir: a, listResources: listing(runningInstance('agnes', a)), requested: 'renamed'})
    await expect(refused).rejects.toMatchObject({exitCode: ExitCode.CONFLICT})
  })

  it('--project rejects a name that could be read as a flag (exit 3)', async () => {
    await expect(decideProject({dir: a, listResources: listing([]), requested: '--rm'})).rejects.toMatchObject({exitCode: ExitCode.INVALID})
  })
})

describe('checkProjectOwnership (what every engine command runs first)', () => {
  const state = (project: string): InstanceState => ({channel: 'stable', createdAt: '', knownGood: [], managedFiles: {}, project, rejected: [], repository: 'r', stateVersion: 1, tls: 'none'})
  const instance = (dir: string, project: string) => ({paths: instancePaths(dir), state: state(project)}) as unknown as Instance
  const engine = (resources: ComposeResource[]) => ({composeResources: async (project: string) => resources.filter((resource) => resource.project === project)}) as unknown as DockerEngine
  const warnings: string[] = []
  const reporter: Reporter = {progress: () => undefined, warn: (message) => warnings.push(message)}

  it('refuses an instance whose project another directory runs, and lets the owner through', async () => {
    const resources = runningInstance('agnes', a)
    await expect(checkProjectOwnership(engine(resources), instance(b, 'agnes'), reporter)).rejects.toMatchObject({exitCode: ExitCode.CONFLICT, message: expect.stringContaining(a)})
    await expect(checkProjectOwnership(engine(resources), instance(a, 'agnes'), reporter)).resolves.toBeUndefined()
    await expect(checkProjectOwnership(engine(resources), instance(b, pathUniqueProjectName(b)), reporter)).resolves.toBeUndefined()
  })
})
