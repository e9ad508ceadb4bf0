import {createHash} from 'node:crypto'
import {realpathSync, statSync} from 'node:fs'
import {resolve} from 'node:path'

import {ComposeResource, DockerEngine} from '../docker/engine.js'
import {AgnesError, ConflictError, DockerError, InvalidInputError} from '../errors.js'
import {Reporter} from '../ui/reporter.js'
import {projectNameFor} from './paths.js'
import {Instance} from './state.js'

/**
 * Which Compose project an instance directory runs as (docs/design.md#one-compose-project-per-instance:
 * chosen once at init and unique on the engine). Compose marks every container with the
 * directory it ran in (`com.docker.compose.project.working_dir`); volumes carry only the project name.
 */

export const PROJECT_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/
const MAX_PROJECT_NAME = 48

/** Checks a project name given by the operator (--project, COMPOSE_PROJECT_NAME): safe on a command line. */
export function validateProjectName(value: string, where: string): string {
  if (!PROJECT_NAME_PATTERN.test(value) || value.length > MAX_PROJECT_NAME) {
    throw new InvalidInputError(`${where}: "${value}" is not a usable Compose project name`, {
      hint: `Use at most ${MAX_PROJECT_NAME} lowercase letters, digits, "-" and "_", starting with a letter or digit.`,
    })
  }

  return value
}

/** The directory's base name with a short hash of its absolute path: unique to the path, still readable. */
export function pathUniqueProjectName(dir: string): string {
  const root = resolve(dir)
  const hash = createHash('sha256').update(root).digest('hex').slice(0, 8)
  return `${projectNameFor(root).slice(0, MAX_PROJECT_NAME - hash.length - 1)}-${hash}`
}

function realDirectory(path: string): string | undefined {
  try {
    return statSync(path).isDirectory() ? realpathSync(path) : undefined
  } catch {
    return undefined
  }
}

export interface ProjectOwners {
  /** Existing directories other than this one whose containers belong to the project. */
  foreign: string[]
  /** Directories named by the project's containers that no longer exist (an instance directory moved away). */
  gone: string[]
  /** Containers of the project created from this directory. */
  ours: number
  /** Volumes of the project: they do not say which directory created them. */
  volumes: number
}

/** Who uses a project on the engine, from the resources' labels, relative to an instance directory. */
export function projectOwners(project: string, dir: string, resources: ComposeResource[]): ProjectOwners {
  const here = realDirectory(dir) ?? resolve(dir)
  const owners: ProjectOwners = {foreign: [], gone: [], ours: 0, volumes: 0}
  for (const resource of resources) {
    if (resource.project !== project) continue
    if (resource.kind === 'volume') {
      owners.volumes++
      continue
    }

    if (resource.workingDir === undefined) continue
    const real = realDirectory(resource.workingDir)
    if (resource.workingDir === here || real === here) {
      owners.ours++
      continue
    }

    const list = real === undefined ? owners.gone : owners.foreign
    if (!list.includes(resource.workingDir)) list.push(resource.workingDir)
  }

  return owners
}

/** A project that another existing directory runs: exit 7, naming the owner and the way out. */
export function projectOwnedElsewhere(project: string, dir: string, owner: string): ConflictError {
  return new ConflictError(`the Compose project "${project}" belongs to the instance in ${owner}, not to ${resolve(dir)}`, {
    details: {owner, project},
    hint: `Two directories must never share a project (they would replace each other's containers and share one data volume). If ${resolve(dir)} is a copy, give it its own project: \`agnes init --dir ${resolve(dir)} --project <new-name>\`. If ${owner} is no longer used, run \`docker compose -p ${project} down\` there first.`,
  })
}

/**
 * The project name for a new instance: the directory's base name when no other directory uses it on the
 * engine, else the base name with a hash of the path. A project seen only as volumes counts as taken:
 * its data may belong to an instance that is stopped.
 */
export function chooseProjectName(dir: string, resources: ComposeResource[]): string {
  const base = projectNameFor(dir)
  const baseOwners = projectOwners(base, dir, resources)
  const baseInUse = resources.some((resource) => resource.project === base)
  if (!baseInUse || (baseOwners.ours > 0 && baseOwners.foreign.length === 0 && baseOwners.gone.length === 0)) return base

  // The hash is of this path, so what exists under that name came from this directory before.
  const unique = pathUniqueProjectName(dir)
  const uniqueOwners = projectOwners(unique, dir, resources)
  if (uniqueOwners.foreign.length > 0) throw projectOwnedElsewhere(unique, dir, uniqueOwners.foreign[0])
  return unique
}

function takeoverWarning(project: string, gone: string[]): string {
  return `containers of the Compose project "${project}" were created in ${gone.join(', ')}, which no longer exists; this directory takes them over.`
}

export interface ProjectChoice {
  project: string
  warnings: string[]
}

/**
 * The project `agnes init` records. An instance keeps the name it runs under; a new one gets a name no
 * other directory uses (see chooseProjectName). `requested` (--project) renames only an instance that
 * has no containers of its own under its current name, since its data volume would stay behind.
 * `listResources` reads the engine; when it is unreachable a new instance gets the path-unique name.
 */
export async function decideProject(options: {
  dir: string
  current?: string
  /** COMPOSE_PROJECT_NAME already in .env, the operator's choice for a directory that has no state yet. */
  fromEnv?: string
  requested?: string
  listResources: () => Promise<ComposeResource[]>
}): Promise<ProjectChoice> {
  const {current, dir} = options
  let resources: ComposeResource[] | undefined
  let engineProblem: string | undefined
  try {
    resources = await options.listResources()
  } catch (error) {
    if (!(error instanceof AgnesError)) throw error
    engineProblem = error.message
  }

  const warnings: string[] = []
  const claim = (project: string): ProjectChoice => {
    if (resources) {
      const owners = projectOwners(project, dir, resources)
      if (owners.foreign.length > 0) throw projectOwnedElsewhere(project, dir, owners.foreign[0])
      if (owners.gone.length > 0) warnings.push(takeoverWarning(project, owners.gone))
    }

    return {project, warnings}
  }

  const requested = options.requested === undefined ? undefined : validateProjectName(options.requested, '--project')
  if (requested !== undefined && current !== undefined && requested !== current) {
    if (!resources) {
      throw new DockerError(`cannot rename the Compose project of ${resolve(dir)} without the engine: ${engineProblem}`, {hint: 'Start the Docker engine (or fix DOCKER_HOST), then re-run.'})
    }

    const owned = projectOwners(current, dir, resources).ours
    if (owned > 0) {
      throw new ConflictError(`this instance runs as the Compose project "${current}" (${owned} container(s) from ${resolve(dir)}); init keeps that name`, {
        details: {project: current},
        hint: `Renaming would leave its containers and its data volume behind. To start over under "${requested}" anyway, stop it first: \`docker compose -p ${current} down\` in ${resolve(dir)} (the volume ${current}_data stays), then re-run.`,
      })
    }

    warnings.push(`the Compose project changes from "${current}" to "${requested}"; "${requested}" has its own data volume, and the volumes of "${current}" stay as they are.`)
  }

  if (requested !== undefined) return claim(requested)
  if (current !== undefined) {
    if (!resources) warnings.push(`the Docker engine is not reachable (${engineProblem}); could not check that no other directory uses the project "${current}".`)
    return claim(current)
  }

  if (options.fromEnv) return claim(validateProjectName(options.fromEnv, 'COMPOSE_PROJECT_NAME in .env'))
  if (resources) return {project: chooseProjectName(dir, resources), warnings}
  const project = pathUniqueProjectName(dir)
  warnings.push(`the Docker engine is not reachable (${engineProblem}); chose the Compose project "${project}", unique to this directory's path.`)
  return {project, warnings}
}

/** Every Compose-labelled container and volume on the engine DOCKER_HOST names, for decideProject. */
export async function engineComposeResources(): Promise<ComposeResource[]> {
  const engine = await DockerEngine.connect({timeoutMs: 10_000})
  return engine.composeResources()
}

/** Refuses to touch the engine for a directory whose project another existing directory runs (exit 7). */
export async function checkProjectOwnership(engine: DockerEngine, instance: Instance, reporter: Reporter): Promise<void> {
  const {project} = instance.state
  const owners = projectOwners(project, instance.paths.dir, await engine.composeResources(project))
  if (owners.foreign.length > 0) throw projectOwnedElsewhere(project, instance.paths.dir, owners.foreign[0])
  if (owners.gone.length > 0) reporter.warn(takeoverWarning(project, owners.gone))
}
