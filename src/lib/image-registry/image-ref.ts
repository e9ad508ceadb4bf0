/**
 * Image repository and reference parsing with Docker's grammar (distribution/reference), so a name that
 * agnes accepts is one `docker pull` accepts, and one it rejects gets a message saying why.
 */
import {InvalidInputError} from '../errors.js'

export interface ImageRepository {
  /** The registry host as contacted, with its port: `ghcr.io`, `127.0.0.1:5000`, `registry-1.docker.io`. */
  registry: string
  /** The repository path inside the registry: `keboola/agnes-the-ai-analyst`, `library/redis`. */
  path: string
  /** The repository as typed, without tag or digest: what `docker pull` is given. */
  name: string
}

export interface ImageReference {
  repository: ImageRepository
  tag?: string
  digest?: string
}

export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io'
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', DOCKER_HUB_REGISTRY])

const EXAMPLE_REPOSITORY = 'ghcr.io/keboola/agnes-the-ai-analyst'
const MAX_NAME_LENGTH = 255
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN_PATTERN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::(\\d{1,5}))?$`)
const PATH_COMPONENT_PATTERN = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG_PATTERN = /^\w[\w.-]{0,127}$/
const DIGEST_PATTERN = /^(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/
const HOST_PORT_PATTERN = /^(?:[^/:]+|\[[^\]]+\]):\d+$/

export function isDigest(value: string): boolean {
  return DIGEST_PATTERN.test(value)
}

export function isTag(value: string): boolean {
  return TAG_PATTERN.test(value)
}

function invalid(kind: string, input: string, problem: string, hint?: string): InvalidInputError {
  return new InvalidInputError(`Invalid image ${kind} "${input}": ${problem}`, {
    hint: hint ?? `An image ${kind} looks like ${kind === 'repository' ? EXAMPLE_REPOSITORY : `${EXAMPLE_REPOSITORY}:stable`}.`,
    details: {input},
  })
}

/**
 * Splits off the registry the way Docker does: the first component is a registry when it contains `.` or
 * `:` or is `localhost`. Docker also treats an uppercase first component as a registry host; agnes does
 * not, so `Keboola/agnes` gets the clearer "must be lowercase" error instead of a lookup of host "Keboola".
 */
function splitRegistry(name: string): {registry?: string; remainder: string} {
  const slash = name.indexOf('/')
  if (slash === -1) return {remainder: name}
  const first = name.slice(0, slash)
  if (first.includes('.') || first.includes(':') || first === 'localhost') {
    return {registry: first, remainder: name.slice(slash + 1)}
  }
  return {remainder: name}
}

function parseRepositoryName(input: string, kind: string): ImageRepository {
  if (input === '') throw invalid(kind, input, 'it is empty')
  if (/\s/.test(input)) throw invalid(kind, input, 'it contains whitespace')
  if (input.startsWith('-')) throw invalid(kind, input, 'it must not start with "-"')
  if (input.includes('://')) {
    throw invalid(kind, input, 'it must not include a URL scheme such as https://', `Drop the scheme, e.g. ${EXAMPLE_REPOSITORY}.`)
  }
  if (input.length > MAX_NAME_LENGTH) throw invalid(kind, input, `it is longer than ${MAX_NAME_LENGTH} characters`)

  const {registry, remainder} = splitRegistry(input)
  if (registry !== undefined) {
    const match = DOMAIN_PATTERN.exec(registry)
    if (!match) throw invalid(kind, input, `"${registry}" is not a valid registry host`)
    const port = match[1]
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65_535)) {
      throw invalid(kind, input, `port ${port} is out of range`)
    }
  }

  for (const component of remainder.split('/')) {
    if (component === '') throw invalid(kind, input, 'it has an empty path component (a leading, trailing or doubled "/")')
    if (component !== component.toLowerCase()) throw invalid(kind, input, 'the repository path must be lowercase')
    if (!PATH_COMPONENT_PATTERN.test(component)) {
      throw invalid(
        kind,
        input,
        `"${component}" is not a valid path component (lowercase letters and digits, separated by ".", "_", "__" or "-")`,
      )
    }
  }

  if (registry === undefined || DOCKER_HUB_ALIASES.has(registry)) {
    return {registry: DOCKER_HUB_REGISTRY, path: remainder.includes('/') ? remainder : `library/${remainder}`, name: input}
  }
  return {registry, path: remainder, name: input}
}

/** A repository without tag or digest, e.g. `ghcr.io/keboola/agnes-the-ai-analyst`, `127.0.0.1:5000/agnes`, `redis`. */
export function parseRepository(input: string): ImageRepository {
  const kind = 'repository'
  if (input.includes('@')) {
    throw invalid(kind, input, 'it includes a digest; give the repository only', `Drop "@${input.split('@')[1]}".`)
  }
  if (!input.includes('/') && HOST_PORT_PATTERN.test(input)) {
    throw invalid(kind, input, 'it is a registry address without a repository path', `Add the repository, e.g. ${input}/agnes.`)
  }
  const lastColon = input.lastIndexOf(':')
  if (lastColon > input.lastIndexOf('/')) {
    throw invalid(kind, input, `it includes a tag (":${input.slice(lastColon + 1)}"); give the repository only`, `Drop the tag, e.g. ${input.slice(0, lastColon)}.`)
  }
  return parseRepositoryName(input, kind)
}

/** A repository with an optional tag and/or digest: `ghcr.io/a/b:stable`, `ghcr.io/a/b@sha256:…`. */
export function parseReference(input: string): ImageReference {
  const kind = 'reference'
  let name = input
  let digest: string | undefined
  const at = input.indexOf('@')
  if (at !== -1) {
    digest = input.slice(at + 1)
    name = input.slice(0, at)
    if (!isDigest(digest)) throw invalid(kind, input, `"${digest}" is not a valid digest (expected sha256:<64 lowercase hex digits>)`)
  }

  let tag: string | undefined
  const lastColon = name.lastIndexOf(':')
  if (lastColon > name.lastIndexOf('/')) {
    tag = name.slice(lastColon + 1)
    name = name.slice(0, lastColon)
    if (!isTag(tag)) {
      throw invalid(kind, input, `"${tag}" is not a valid tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`)
    }
  }

  const repository = parseRepositoryName(name, kind)
  return {repository, ...(tag === undefined ? {} : {tag}), ...(digest === undefined ? {} : {digest})}
}

/** `ghcr.io/a/b` + `sha256:…` → `ghcr.io/a/b@sha256:…`, the form that pins exactly one image. */
export function digestReference(repository: string | ImageRepository, digest: string): string {
  const {name} = typeof repository === 'string' ? parseRepository(repository) : repository
  if (!isDigest(digest)) {
    throw new InvalidInputError(`Invalid image digest "${digest}": expected sha256:<64 lowercase hex digits>`)
  }
  return `${name}@${digest}`
}

function hostWithoutPort(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(0, registry.indexOf(']') + 1)
  return registry.split(':')[0]
}

/** Registries on the loopback interface speak plain HTTP, as Docker trusts 127.0.0.0/8 and ::1 by default. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = hostWithoutPort(registry).toLowerCase()
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** The origin of the registry's HTTP API: `https://ghcr.io`, `http://127.0.0.1:5000`. */
export function registryBaseUrl(registry: string): string {
  if (DOCKER_HUB_ALIASES.has(registry)) return `https://${DOCKER_HUB_REGISTRY}`
  return `${isLoopbackRegistry(registry) ? 'http' : 'https'}://${registry}`
}
